//! Identity resolution (issue 19): the graph against a plain oracle
//! (connected components by search over the links), the policy's
//! all-or-nothing refusals, the saved form, and the batch path — a shop
//! export in which people appear under a guest id and their e-mail
//! summarises, once resolved, exactly as the export written with one id
//! per person.

use std::collections::{BTreeMap, BTreeSet};

use chrono_tz::Europe::Berlin;
use customer_lifecycle::chrono::{TimeZone, Utc};
use customer_lifecycle::rust_decimal::Decimal;
use customer_lifecycle::{
    CsvOptions, Currency, CustomerId, Error, FixedRates, Identifier, IdentifierKind, IdentityGraph, IdentityLink,
    IdentityPolicy, LinkOutcome, LinkSource, SummaryOptions, TimeUnit, Transaction, TransactionLog,
};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::shop_generator::{ExportStyle, ShopConfig, generate, to_csv};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn at(day: u32) -> customer_lifecycle::chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, day.clamp(1, 28), 12, 0, 0).unwrap()
}

/// People by search over the links: each identifier's component, named by
/// its smallest identifier.
fn components(ids: &BTreeSet<Identifier>, links: &[(Identifier, Identifier)]) -> BTreeMap<Identifier, Identifier> {
    let mut adjacent: BTreeMap<&Identifier, Vec<&Identifier>> = BTreeMap::new();
    for (a, b) in links {
        adjacent.entry(a).or_default().push(b);
        adjacent.entry(b).or_default().push(a);
    }
    let mut out = BTreeMap::new();
    for start in ids {
        if out.contains_key(start) {
            continue;
        }
        let mut seen = BTreeSet::from([start]);
        let mut stack = vec![start];
        while let Some(i) = stack.pop() {
            for &j in adjacent.get(i).map(Vec::as_slice).unwrap_or(&[]) {
                if seen.insert(j) {
                    stack.push(j);
                }
            }
        }
        let name = (*seen.iter().next().unwrap()).clone();
        for i in seen {
            out.insert(i.clone(), name.clone());
        }
    }
    out
}

fn identifier(kind: u8, n: u8) -> Identifier {
    match kind % 4 {
        0 => Identifier::customer(i64::from(n % 12)),
        1 => Identifier::email(&format!("p{}@shop.de", n % 9)).unwrap(),
        2 => Identifier::device(&format!("d{}", n % 7)).unwrap(),
        _ => Identifier::external("crm", &format!("{}", n % 5)).unwrap(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// With no limits: the people are the links' connected components,
    /// named by their smallest identifier, whatever the links' order; an
    /// unlink leaves the components of the remaining links.
    #[test]
    fn people_are_the_components_in_any_order(
        raw in proptest::collection::vec((0u8..4, any::<u8>(), 0u8..4, any::<u8>()), 0..40),
        lone in proptest::collection::vec((0u8..4, any::<u8>()), 0..6),
        shuffle in any::<u64>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let links: Vec<(Identifier, Identifier)> = raw
            .iter()
            .map(|&(ka, a, kb, b)| (identifier(ka, a), identifier(kb, b)))
            .filter(|(a, b)| a != b)
            .collect();
        let lone: Vec<Identifier> = lone.iter().map(|&(k, n)| identifier(k, n)).collect();
        let ids: BTreeSet<Identifier> = links.iter().flat_map(|(a, b)| [a.clone(), b.clone()]).chain(lone.iter().cloned()).collect();
        let want = components(&ids, &links);
        let people: BTreeSet<&Identifier> = want.values().collect();

        let mut order = links.clone();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(shuffle);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        for forward in [true, false] {
            let mut graph = IdentityGraph::new(IdentityPolicy::unlimited());
            for id in &lone {
                graph.add(id).unwrap();
            }
            let list: Vec<&(Identifier, Identifier)> = if forward { links.iter().collect() } else { order.iter().collect() };
            for (a, b) in list {
                graph.link(a, b, LinkSource::Explicit, at(1)).unwrap();
            }
            prop_assert_eq!(graph.len(), ids.len());
            prop_assert_eq!(graph.people(), people.len());
            for (id, name) in &want {
                prop_assert_eq!(graph.canonical(id), Some(name));
            }
            // The saved form loads back as the same graph.
            let json = serde_json::to_string(&graph).unwrap();
            prop_assert_eq!(&serde_json::from_str::<IdentityGraph>(&json).unwrap(), &graph);
        }

        if !links.is_empty() {
            let (a, b) = links[cut.index(links.len())].clone();
            let mut graph = IdentityGraph::new(IdentityPolicy::unlimited());
            for id in &lone {
                graph.add(id).unwrap();
            }
            for (x, y) in &links {
                graph.link(x, y, LinkSource::Explicit, at(1)).unwrap();
            }
            let people_after = graph.unlink(&a, &b).unwrap();
            let rest: Vec<(Identifier, Identifier)> =
                links.iter().filter(|(x, y)| !((x == &a && y == &b) || (x == &b && y == &a))).cloned().collect();
            let want_after = components(&ids, &rest);
            for (id, name) in &want_after {
                prop_assert_eq!(graph.canonical(id), Some(name));
            }
            prop_assert_eq!(graph.people(), want_after.values().collect::<BTreeSet<_>>().len());
            let split: BTreeSet<&Identifier> = [&a, &b].iter().map(|i| &want_after[*i]).collect();
            prop_assert_eq!(people_after.iter().collect::<BTreeSet<_>>(), split);
            prop_assert!(graph.unlink(&a, &b).is_err(), "the link is gone");
        }
    }

    /// Under limits: a link is refused exactly when the person it would
    /// make holds more of a kind than the limit, and a refused link changes
    /// nothing; no person ever exceeds a limit.
    #[test]
    fn limits_hold_and_refusals_change_nothing(
        raw in proptest::collection::vec((0u8..4, any::<u8>(), 0u8..4, any::<u8>()), 1..40),
        limit in 1u32..4,
    ) {
        let policy = IdentifierKind::ALL.iter().fold(IdentityPolicy::unlimited(), |p, &k| p.with_limit(k, limit));
        let mut graph = IdentityGraph::new(policy);
        for &(ka, a, kb, b) in &raw {
            let (a, b) = (identifier(ka, a), identifier(kb, b));
            if a == b {
                continue;
            }
            let before = graph.clone();
            let merged: Vec<Identifier> = graph.identifiers_of(&a).into_iter().chain(graph.identifiers_of(&b)).chain([a.clone(), b.clone()]).collect::<BTreeSet<_>>().into_iter().collect();
            let over = IdentifierKind::ALL.iter().any(|&k| merged.iter().filter(|i| i.kind() == k).count() > limit as usize);
            match graph.link(&a, &b, LinkSource::Login, at(2)) {
                Ok(_) => prop_assert!(!over || graph.canonical(&a) == before.canonical(&b) && before.canonical(&a).is_some()),
                Err(Error::IdentityLinkRefused { .. }) => {
                    prop_assert!(over);
                    prop_assert_eq!(&graph, &before);
                }
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
        for link in graph.links() {
            let person = graph.identifiers_of(&link.a);
            for k in IdentifierKind::ALL {
                prop_assert!(person.iter().filter(|i| i.kind() == k).count() <= limit as usize);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// `link_all` is `link` called on each link in order: the same graph
    /// (identifiers, links, people, canonical ids), the same refusals at the
    /// same positions with the same messages, the same counts — over lists
    /// longer than its lookup batch, with identifiers first seen and seen
    /// again within one batch, links of an identifier to itself, a blocked
    /// identifier and tight limits.
    #[test]
    fn link_all_is_link_in_order(
        raw in proptest::collection::vec((0u8..4, any::<u8>(), 0u8..4, any::<u8>()), 0..700),
        limit in 1u32..6,
        start in proptest::collection::vec((0u8..4, any::<u8>(), 0u8..4, any::<u8>()), 0..20),
        wide in any::<bool>(),
    ) {
        // Wide: many distinct identifiers (most links add new ones); else few.
        let id = |k: u8, n: u8| if wide { identifier_wide(k, n) } else { identifier(k, n) };
        let policy = IdentifierKind::ALL
            .iter()
            .fold(IdentityPolicy::unlimited(), |p, &k| p.with_limit(k, limit))
            .block(Identifier::device("d3").unwrap());
        let mut base = IdentityGraph::new(policy);
        for &(ka, a, kb, b) in &start {
            let _ = base.link(&id(ka, a), &id(kb, b), LinkSource::Order, at(1));
        }
        let links: Vec<IdentityLink> = raw
            .iter()
            .enumerate()
            .map(|(n, &(ka, a, kb, b))| IdentityLink { a: id(ka, a), b: id(kb, b), source: LinkSource::Login, at: at(1 + (n % 27) as u32) })
            .collect();
        let mut one_by_one = base.clone();
        let (mut merged, mut already, mut refused) = (0, 0, Vec::new());
        for (n, link) in links.iter().enumerate() {
            match one_by_one.link(&link.a, &link.b, link.source, link.at) {
                Ok(LinkOutcome::Merged { .. }) => merged += 1,
                Ok(LinkOutcome::AlreadyLinked) => already += 1,
                Err(e) => refused.push((n, e.to_string())),
            }
        }
        let mut batch = base.clone();
        let tally = batch.link_all(&links);
        prop_assert_eq!((tally.merged, tally.already_linked), (merged, already));
        let got: Vec<(usize, String)> = tally.refused.iter().map(|(n, e)| (*n, e.to_string())).collect();
        prop_assert_eq!(got, refused);
        prop_assert_eq!(&batch, &one_by_one);
        prop_assert_eq!(batch.people(), one_by_one.people());
        prop_assert_eq!(batch.len(), one_by_one.len());
        for link in &links {
            for side in [&link.a, &link.b] {
                prop_assert_eq!(batch.canonical(side), one_by_one.canonical(side));
            }
        }
    }
}

/// Identifiers from a larger range than [`identifier`]'s: most links of a
/// batch bring identifiers the graph has not seen.
fn identifier_wide(kind: u8, n: u8) -> Identifier {
    match kind % 4 {
        0 => Identifier::customer(i64::from(n)),
        1 => Identifier::email(&format!("p{n}@shop.de")).unwrap(),
        2 => Identifier::device(&format!("d{}", n % 64)).unwrap(),
        _ => Identifier::external("crm", &format!("{n}")).unwrap(),
    }
}

#[test]
fn blocked_identifiers_never_link_and_erasure_forgets_the_person() -> TestResult {
    let kiosk = Identifier::device("kiosk-1")?;
    let mut graph = IdentityGraph::new(IdentityPolicy::default().block(kiosk.clone()));
    let e = graph.link(&kiosk, &Identifier::customer(1), LinkSource::Login, at(3)).unwrap_err();
    assert!(e.to_string().contains("device:kiosk-1 is blocked"), "{e}");
    assert!(graph.is_empty());
    assert!(graph.link(&Identifier::customer(1), &Identifier::customer(1), LinkSource::Explicit, at(3)).is_err());

    let (mail, guest, account) =
        (Identifier::email("ana@x.de")?, Identifier::customer("guest-1"), Identifier::customer(7));
    graph.link(&guest, &mail, LinkSource::Order, at(3))?;
    let outcome = graph.link(&mail, &account, LinkSource::Login, at(4))?;
    assert_eq!(outcome, LinkOutcome::Merged { canonical: account.clone(), from: [guest.clone(), account.clone()] });
    graph.link(&Identifier::customer(8), &Identifier::email("bo@x.de")?, LinkSource::Order, at(5))?;
    assert_eq!(graph.erase(&guest), [account.clone(), guest.clone(), mail.clone()]);
    assert_eq!((graph.len(), graph.people(), graph.links().len()), (2, 1, 1));
    for gone in [&mail, &guest, &account] {
        assert_eq!(graph.canonical(gone), None);
    }
    Ok(())
}

#[test]
fn a_tampered_saved_graph_is_refused() -> TestResult {
    let mut graph = IdentityGraph::new(IdentityPolicy::default().with_limit(IdentifierKind::Customer, 1));
    graph.link(&Identifier::customer(1), &Identifier::email("a@b.de")?, LinkSource::Order, at(1))?;
    graph.link(&Identifier::customer(2), &Identifier::email("c@d.de")?, LinkSource::Order, at(1))?;
    let json = serde_json::to_string(&graph)?;
    assert_eq!(serde_json::from_str::<IdentityGraph>(&json)?, graph);
    // A link joining the two accounts, past the saved policy's limit.
    let joined = json.replace(r#""value":"c@d.de""#, r#""value":"a@b.de""#);
    assert_ne!(joined, json);
    let e = serde_json::from_str::<IdentityGraph>(&joined).unwrap_err();
    assert!(e.to_string().contains("2 customer ids, the limit is 1"), "{e}");
    // An e-mail not in normal form.
    let shouting = json.replace("a@b.de", "A@B.DE");
    assert!(serde_json::from_str::<IdentityGraph>(&shouting).unwrap_err().to_string().contains("normal form"));
    Ok(())
}

fn shop_options() -> CsvOptions {
    crate::shop_export::options(ExportStyle::Iso)
}

/// The batch oracle: a shop export (e-mail ids, Berlin times, two
/// currencies, refunds, orders acquired up to the last day) in which a
/// third of the people with two or more orders placed their first as
/// guests under `guest-N`.
/// Resolved through the
/// links, it summarises exactly as the export written with one id per
/// person (the smaller of the two, as the graph names people), with and
/// without a holdout.
#[test]
fn a_log_under_two_ids_per_person_resolves_to_the_log_under_one() -> TestResult {
    let config = ShopConfig { seed: 19, customers: 1_200, ..ShopConfig::default() };
    let export = generate(&config);
    let rates = FixedRates::new().with_rate(Currency::CHF, Currency::EUR, Decimal::new(105, 2))?;
    let log = TransactionLog::from_csv_reader_with_rates(
        to_csv(&export, ExportStyle::Iso).as_bytes(),
        &shop_options(),
        &rates,
    )?;
    // Each chosen person's first order was a guest checkout; people with
    // orders at one time only stay whole.
    // (The guest's rows: those before the person's second order time, so
    // that the guest's returns stay with the guest's order.)
    let mut times: BTreeMap<CustomerId, BTreeSet<customer_lifecycle::chrono::DateTime<Utc>>> = BTreeMap::new();
    for t in log.iter().filter(|t| t.kind() == customer_lifecycle::TransactionKind::Order) {
        times.entry(t.customer().clone()).or_default().insert(t.at());
    }
    let second: BTreeMap<CustomerId, customer_lifecycle::chrono::DateTime<Utc>> =
        times.iter().filter_map(|(c, t)| t.iter().nth(1).map(|s| (c.clone(), *s))).collect();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(19);
    let mut guest_of: BTreeMap<CustomerId, CustomerId> = BTreeMap::new();
    for (n, id) in log.customers().ids().iter().enumerate() {
        if second.contains_key(id) && rng.random_bool(1.0 / 3.0) {
            guest_of.insert(id.clone(), CustomerId::from(format!("guest-{n}")));
        }
    }
    let mut split = TransactionLog::new(Currency::EUR);
    let mut one = TransactionLog::new(Currency::EUR);
    let mut moved = 0;
    for t in log.iter() {
        let person = t.customer().clone();
        let with = |id: &CustomerId| {
            let base = match t.kind() {
                customer_lifecycle::TransactionKind::Order => Transaction::order(id.clone(), t.at(), t.amount()),
                customer_lifecycle::TransactionKind::Return => Transaction::refund(id.clone(), t.at(), t.amount()),
            };
            match t.order_id() {
                Some(o) => base.with_order_id(o),
                None => base,
            }
        };
        match guest_of.get(&person) {
            Some(guest) => {
                one.push(with(guest.min(&person)))?;
                if t.at() < second[&person] {
                    split.push(with(guest))?;
                    moved += 1;
                } else {
                    split.push(with(&person))?;
                }
            }
            None => {
                one.push(with(&person))?;
                split.push(with(&person))?;
            }
        }
    }
    assert!(moved > 100, "{moved} rows under guest ids");
    let mut graph = IdentityGraph::new(IdentityPolicy::default());
    for (person, guest) in &guest_of {
        graph.link(
            &Identifier::customer(guest.clone()),
            &Identifier::customer(person.clone()),
            LinkSource::Login,
            at(9),
        )?;
    }
    let resolved = split.resolved(&graph)?;
    assert!(split.customers().len() > one.customers().len());
    assert_eq!(resolved.customers().len(), one.customers().len());
    assert_eq!(resolved.len(), one.len());
    let end = config.last_day;
    for options in [
        SummaryOptions::new(TimeUnit::Day).time_zone(Berlin).observation_end(end),
        SummaryOptions::new(TimeUnit::Week)
            .time_zone(Berlin)
            .calibration_end(crate::shop_generator::calibration_end(&config))
            .observation_end(end),
    ] {
        assert_eq!(resolved.summarize(&options)?, one.summarize(&options)?);
        assert_ne!(split.summarize(&options)?, one.summarize(&options)?);
    }
    Ok(())
}

/// `lifecycle_report --identity-links` on the generator's export with
/// duplicate identities: the summary it writes is, byte for byte, the
/// summary of the export written with one address per person (keyed by
/// each person's canonical id), and no linked id but the canonical one is
/// left in the predictions.
#[test]
fn the_report_resolves_identity_links_end_to_end() -> TestResult {
    use crate::shop_generator::{links_csv, with_second_addresses};
    let dir = std::env::temp_dir().join(format!("customer_lifecycle_identity_e2e_{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = ShopConfig { seed: 23, customers: 1_500, ..ShopConfig::default() };
    let export = generate(&config);
    let (two_ids, links) = with_second_addresses(&export, config.seed);
    assert!(links.len() > 100, "{} people under two addresses", links.len());
    assert!(two_ids.customers.len() == export.customers.len() + links.len());
    let (orders, links_file) = (dir.join("two_ids.csv"), dir.join("links.csv"));
    std::fs::write(&orders, to_csv(&two_ids, ExportStyle::Iso))?;
    std::fs::write(&links_file, links_csv(&links))?;
    let (summary, predictions) = (dir.join("summary.csv"), dir.join("predictions.csv"));
    let path = |p: &std::path::Path| p.display().to_string();
    let (orders_s, links_s, summary_s, predictions_s) =
        (path(&orders), path(&links_file), path(&summary), path(&predictions));
    let (cal, obs) = (crate::shop_generator::calibration_end(&config).to_string(), config.last_day.to_string());
    let mut args = crate::shop_export::report_args(&orders_s, &cal, &obs);
    args.extend(["--identity-links", &links_s, "--summary-csv", &summary_s, "--predictions-csv", &predictions_s]);
    args.extend(["--clv-interval-draws", "0"]);
    crate::lifecycle_report::run_cli(&args)?;

    // The oracle: the original export, each person keyed by the smaller
    // of their two addresses (the canonical id).
    let rates = FixedRates::new().with_rate(Currency::CHF, Currency::EUR, Decimal::new(105, 2))?;
    let original = TransactionLog::from_csv_reader_with_rates(
        to_csv(&export, ExportStyle::Iso).as_bytes(),
        &shop_options(),
        &rates,
    )?;
    let mut graph = IdentityGraph::new(IdentityPolicy::default());
    for (second, first) in &links {
        graph.link(
            &Identifier::customer(second.as_str()),
            &Identifier::customer(first.as_str()),
            LinkSource::Login,
            at(1),
        )?;
    }
    let options = SummaryOptions::new(TimeUnit::Week)
        .time_zone(Berlin)
        .calibration_end(crate::shop_generator::calibration_end(&config))
        .observation_end(config.last_day);
    let mut expected = Vec::new();
    original.resolved(&graph)?.summarize(&options)?.write_csv(&mut expected)?;
    assert_eq!(std::fs::read_to_string(&summary)?, String::from_utf8(expected)?);

    let written = std::fs::read_to_string(&predictions)?;
    let keyed: BTreeSet<&str> = written.lines().skip(1).filter_map(|l| l.split(',').next()).collect();
    for (second, first) in &links {
        let (canonical, other) = if second < first { (second, first) } else { (first, second) };
        assert!(!keyed.contains(other.as_str()), "{other} is {canonical}'s, not a customer of its own");
    }
    assert!(links.iter().any(|(s, f)| keyed.contains(s.min(f).as_str())));
    // A malformed links file is refused, naming its line.
    std::fs::write(&links_file, "id_a,id_b\nnot-an-address,anna@web.de\n")?;
    let mut args = crate::shop_export::report_args(&orders_s, &cal, &obs);
    args.extend(["--identity-links", &links_s]);
    let err = crate::lifecycle_report::run_cli(&args).unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
