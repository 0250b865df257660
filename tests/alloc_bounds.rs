//! What a hostile saved document can make the loader allocate: lists longer
//! than their structure allows are refused while they are parsed (issue 13,
//! item 11). A test binary of its own, for the counting allocator.

use customer_lifecycle::automation::{Action, Limits, TriggerCondition, TriggerRule, TriggerState, Triggers};
use customer_lifecycle::lifecycle::StageModel;
use customer_lifecycle::{Channel, Purpose};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn a_trigger_state_of_a_hundred_thousand_rules_is_refused_cheaply() -> TestResult {
    let rule = TriggerRule {
        name: "quiet".into(),
        when: TriggerCondition::NoActivityFor { days: 30 },
        action: Action {
            id: "nudge".into(),
            channel: Channel::Email,
            purpose: Purpose::Marketing,
            payload: String::new(),
        },
        once_per_customer: false,
    };
    let triggers = Triggers::new(vec![rule], Limits::default(), &StageModel::ecommerce())?;
    let json = serde_json::to_string(&triggers.new_state())?;
    // One rule's memory, repeated: the document a loader must not believe.
    let start = json.find("\"rules\":[").ok_or("a rules list")? + "\"rules\":[".len();
    let end = start + json[start..].find("}]").ok_or("the end of the rules")? + 1;
    let one = &json[start..end];
    let copies = 100_000;
    let hostile = format!("{}{}{}", &json[..start], vec![one; copies].join(","), &json[end..]);
    assert!(hostile.len() > 10_000_000, "{} bytes", hostile.len());

    let region = Region::new(GLOBAL);
    let loaded = serde_json::from_str::<TriggerState>(&hostile);
    let used = region.change().bytes_allocated;
    let e = loaded.err().ok_or("a hundred thousand rules must be refused")?;
    assert!(e.to_string().contains("more than 4096"), "{e}");
    // At most 4,096 rule memories (about 180 bytes each) and the parser's
    // scratch, not a hundred thousand.
    assert!(used < 4 << 20, "the refused load allocated {used} bytes");

    // The saved memory itself still loads.
    let back: TriggerState = serde_json::from_str(&json)?;
    assert_eq!(back, triggers.new_state());
    Ok(())
}
