//! Money: exact decimal amounts with a currency, and currency conversion.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// An ISO 4217 currency code such as `USD` or `EUR`.
///
/// Any three ASCII letters are accepted (upper-cased), so private or new codes
/// work too; [`Currency::minor_units`] knows the exponents of the common ones.
///
/// ```
/// use customer_lifecycle::Currency;
///
/// let eur = Currency::new("eur")?;
/// assert_eq!(eur, Currency::EUR);
/// assert_eq!(eur.code(), "EUR");
/// assert_eq!(Currency::JPY.minor_units(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// US dollar.
    pub const USD: Currency = Currency(*b"USD");
    /// Euro.
    pub const EUR: Currency = Currency(*b"EUR");
    /// Pound sterling.
    pub const GBP: Currency = Currency(*b"GBP");
    /// Swiss franc.
    pub const CHF: Currency = Currency(*b"CHF");
    /// Japanese yen.
    pub const JPY: Currency = Currency(*b"JPY");

    /// Parses a three-letter code, case-insensitively.
    ///
    /// ```
    /// use customer_lifecycle::Currency;
    /// assert_eq!(Currency::new("EUR")?, Currency::EUR);
    /// assert!(Currency::new("euro").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidCurrency`] unless `code` is exactly three ASCII letters.
    pub fn new(code: &str) -> Result<Currency> {
        let bytes = code.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_alphabetic) {
            return Err(Error::InvalidCurrency { code: code.to_string() });
        }
        Ok(Currency([bytes[0].to_ascii_uppercase(), bytes[1].to_ascii_uppercase(), bytes[2].to_ascii_uppercase()]))
    }

    /// The upper-case code.
    ///
    /// ```
    /// use customer_lifecycle::Currency;
    /// assert_eq!(Currency::USD.code(), "USD");
    /// ```
    pub fn code(&self) -> &str {
        // The bytes are ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// Number of decimal places of the currency's minor unit (ISO 4217
    /// exponent): 0 for JPY, KRW and a few others, 3 for BHD, KWD, JOD, OMR,
    /// TND, LYD and IQD, 2 otherwise.
    ///
    /// ```
    /// use customer_lifecycle::Currency;
    /// assert_eq!(Currency::EUR.minor_units(), 2);
    /// assert_eq!(Currency::new("JPY")?.minor_units(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn minor_units(&self) -> u32 {
        match &self.0 {
            b"JPY" | b"KRW" | b"ISK" | b"CLP" | b"VND" | b"XAF" | b"XOF" | b"XPF" | b"PYG" | b"UGX" | b"RWF"
            | b"KMF" | b"GNF" | b"DJF" | b"VUV" | b"BIF" => 0,
            b"BHD" | b"KWD" | b"JOD" | b"OMR" | b"TND" | b"LYD" | b"IQD" => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.code())
    }
}

impl FromStr for Currency {
    type Err = Error;
    fn from_str(s: &str) -> Result<Currency> {
        Currency::new(s)
    }
}

impl TryFrom<String> for Currency {
    type Error = Error;
    fn try_from(s: String) -> Result<Currency> {
        Currency::new(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code().to_string()
    }
}

/// An exact amount of money in one currency.
///
/// The amount may be negative (a balance, a difference); the places that
/// must not take negative amounts (orders, returns, costs) check that
/// themselves and say which field was at fault.
///
/// ```
/// use customer_lifecycle::{Currency, Money};
/// use customer_lifecycle::rust_decimal::Decimal;
///
/// let price = Money::parse("19.99", Currency::EUR)?;
/// let shipping = Money::new(Decimal::new(499, 2), Currency::EUR);
/// let total = price.checked_add(shipping)?;
/// assert_eq!(total.to_string(), "24.98 EUR");
/// assert_eq!(total.to_f64(), 24.98);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

impl Money {
    /// An amount in a currency.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, Money};
    /// use customer_lifecycle::rust_decimal::Decimal;
    /// let m = Money::new(Decimal::new(1990, 2), Currency::EUR);
    /// assert_eq!(m.to_string(), Money::parse("19.90", Currency::EUR)?.to_string());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(amount: Decimal, currency: Currency) -> Money {
        Money { amount, currency }
    }

    /// Zero in a currency.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, Money};
    /// assert!(Money::zero(Currency::EUR).amount().is_zero());
    /// ```
    pub fn zero(currency: Currency) -> Money {
        Money { amount: Decimal::ZERO, currency }
    }

    /// Parses a decimal amount such as `"12.30"` or `"-4"`.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, Money};
    /// assert_eq!(Money::parse("19.90", Currency::EUR)?.amount().to_string(), "19.90");
    /// assert!(Money::parse("19,90", Currency::EUR).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidAmount`] when the text is not a decimal number
    /// (including `NaN` and `inf`, which decimals cannot hold).
    pub fn parse(amount: &str, currency: Currency) -> Result<Money> {
        let amount = parse_decimal(amount).map_err(|reason| Error::InvalidAmount {
            field: "amount",
            value: amount.to_string(),
            customer: None,
            reason,
        })?;
        Ok(Money { amount, currency })
    }

    /// Converts a float amount, rounding to the currency's minor units
    /// (half to even).
    ///
    /// ```
    /// use customer_lifecycle::{Currency, Money};
    /// assert_eq!(Money::from_f64(0.1 + 0.2, Currency::EUR)?, Money::parse("0.3", Currency::EUR)?);
    /// assert!(Money::from_f64(f64::NAN, Currency::EUR).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::NonFinite`] for NaN or infinities; [`Error::InvalidAmount`]
    /// when the value is outside what a [`Decimal`] can hold.
    pub fn from_f64(amount: f64, currency: Currency) -> Result<Money> {
        if !amount.is_finite() {
            return Err(Error::NonFinite { field: "amount", value: amount });
        }
        let d = Decimal::from_f64_retain(amount).ok_or_else(|| Error::InvalidAmount {
            field: "amount",
            value: amount.to_string(),
            customer: None,
            reason: "outside the range of a decimal".into(),
        })?;
        Ok(Money {
            amount: d.round_dp_with_strategy(currency.minor_units(), RoundingStrategy::MidpointNearestEven),
            currency,
        })
    }

    /// The exact amount.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, Money};
    /// assert_eq!(Money::parse("5", Currency::USD)?.amount(), customer_lifecycle::rust_decimal::Decimal::from(5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    /// The currency.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, Money};
    /// assert_eq!(Money::parse("5", Currency::USD)?.currency(), Currency::USD);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// True when the amount is below zero.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, Money};
    /// assert!(Money::parse("-5", Currency::USD)?.is_negative());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_negative(&self) -> bool {
        self.amount.is_sign_negative() && !self.amount.is_zero()
    }

    /// The amount as the nearest `f64`, for statistics.
    ///
    /// This is the one place where exact money becomes a float: models and
    /// summaries' averages compute in `f64`, totals stay exact. The result is
    /// the float nearest to the decimal (for amounts with at most 15
    /// significant digits it prints back to the same decimal).
    ///
    /// ```
    /// use customer_lifecycle::{Currency, Money};
    /// assert_eq!(Money::parse("19.90", Currency::EUR)?.to_f64(), 19.9);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_f64(&self) -> f64 {
        // Decimal's own to_f64 is not correctly rounded for every input; parsing
        // its exact text is (Rust's float parser rounds to nearest).
        self.amount.to_string().parse::<f64>().unwrap_or(f64::NAN)
    }

    /// Adds two amounts of the same currency.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, Money};
    /// let sum = Money::parse("1.10", Currency::EUR)?.checked_add(Money::parse("2.20", Currency::EUR)?)?;
    /// assert_eq!(sum, Money::parse("3.30", Currency::EUR)?); // exact, unlike 1.1 + 2.2 in f64
    /// assert!(sum.checked_add(Money::parse("1", Currency::USD)?).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::MixedCurrency`] when the currencies differ,
    /// [`Error::AmountOverflow`] when the sum leaves the decimal range.
    pub fn checked_add(self, other: Money) -> Result<Money> {
        self.same_currency(other)?;
        let amount =
            self.amount.checked_add(other.amount).ok_or(Error::AmountOverflow { field: "amount", customer: None })?;
        Ok(Money { amount, currency: self.currency })
    }

    /// Subtracts an amount of the same currency.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, Money};
    /// let paid = Money::parse("40", Currency::EUR)?.checked_sub(Money::parse("5.50", Currency::EUR)?)?;
    /// assert_eq!(paid, Money::parse("34.50", Currency::EUR)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Money::checked_add`].
    pub fn checked_sub(self, other: Money) -> Result<Money> {
        self.same_currency(other)?;
        let amount =
            self.amount.checked_sub(other.amount).ok_or(Error::AmountOverflow { field: "amount", customer: None })?;
        Ok(Money { amount, currency: self.currency })
    }

    /// Multiplies by a plain factor (a quantity, a margin, a rate).
    ///
    /// ```
    /// use customer_lifecycle::{Currency, Money};
    /// let margin = Money::parse("40", Currency::EUR)?.checked_mul("0.3".parse()?)?;
    /// assert_eq!(margin, Money::parse("12", Currency::EUR)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::AmountOverflow`] when the product leaves the decimal range.
    pub fn checked_mul(self, factor: Decimal) -> Result<Money> {
        let amount =
            self.amount.checked_mul(factor).ok_or(Error::AmountOverflow { field: "amount", customer: None })?;
        Ok(Money { amount, currency: self.currency })
    }

    /// Converts to another currency with the rate `rates` gives for time `at`,
    /// rounded to the target's minor units (half to even). Converting to the
    /// same currency returns the amount unchanged.
    ///
    /// ```
    /// use customer_lifecycle::{Currency, FixedRates, Money};
    /// use customer_lifecycle::rust_decimal::Decimal;
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    ///
    /// let rates = FixedRates::new().with_rate(Currency::EUR, Currency::USD, Decimal::new(108, 2))?;
    /// let at = Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 0).unwrap();
    /// let eur = Money::parse("10.00", Currency::EUR)?;
    /// assert_eq!(eur.convert(Currency::USD, at, &rates)?.to_string(), "10.80 USD");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::MissingExchangeRate`] when `rates` has no rate for the pair;
    /// [`Error::AmountOverflow`] when the product overflows.
    pub fn convert(self, to: Currency, at: DateTime<Utc>, rates: &dyn ExchangeRates) -> Result<Money> {
        if self.currency == to {
            return Ok(self);
        }
        let rate = rates.rate(self.currency, to, at).ok_or_else(|| Error::MissingExchangeRate {
            from: self.currency.to_string(),
            to: to.to_string(),
            at: at.to_rfc3339(),
        })?;
        let amount = self
            .amount
            .checked_mul(rate)
            .ok_or(Error::AmountOverflow { field: "amount", customer: None })?
            .round_dp_with_strategy(to.minor_units(), RoundingStrategy::MidpointNearestEven);
        Ok(Money { amount, currency: to })
    }

    fn same_currency(&self, other: Money) -> Result<()> {
        if self.currency != other.currency {
            return Err(Error::MixedCurrency {
                expected: self.currency.to_string(),
                found: other.currency.to_string(),
            });
        }
        Ok(())
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

/// Exchange rates supplied by the application: the crate never fetches any.
///
/// `rate(from, to, at)` returns how many units of `to` one unit of `from`
/// buys at time `at`, or `None` when unknown.
pub trait ExchangeRates {
    /// The rate from `from` to `to` at `at`.
    fn rate(&self, from: Currency, to: Currency, at: DateTime<Utc>) -> Option<Decimal>;
}

/// Time-independent exchange rates; the inverse of a given pair is used when
/// only the other direction is known.
///
/// ```
/// use customer_lifecycle::{Currency, ExchangeRates, FixedRates};
/// use customer_lifecycle::rust_decimal::Decimal;
/// use customer_lifecycle::chrono::DateTime;
///
/// let rates = FixedRates::new().with_rate(Currency::GBP, Currency::EUR, Decimal::new(125, 2))?;
/// let at = DateTime::UNIX_EPOCH;
/// assert_eq!(rates.rate(Currency::EUR, Currency::GBP, at), Some(Decimal::new(8, 1)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<String, Decimal>", into = "BTreeMap<String, Decimal>")]
pub struct FixedRates {
    rates: BTreeMap<String, Decimal>,
}

impl TryFrom<BTreeMap<String, Decimal>> for FixedRates {
    type Error = Error;

    /// Loaded rates are ones [`FixedRates::with_rate`] accepts: keyed by
    /// `FROM/TO` currency codes, each rate positive.
    fn try_from(saved: BTreeMap<String, Decimal>) -> Result<FixedRates> {
        saved.into_iter().try_fold(FixedRates::new(), |rates, (pair, rate)| {
            let (from, to) = pair.split_once('/').ok_or_else(|| Error::InvalidArgument {
                name: "exchange rate",
                reason: format!("{pair:?} is not a FROM/TO pair of currency codes"),
            })?;
            rates.with_rate(Currency::new(from)?, Currency::new(to)?, rate)
        })
    }
}

impl From<FixedRates> for BTreeMap<String, Decimal> {
    fn from(rates: FixedRates) -> BTreeMap<String, Decimal> {
        rates.rates
    }
}

impl FixedRates {
    /// No rates.
    ///
    /// ```
    /// use customer_lifecycle::FixedRates;
    /// let rates = FixedRates::new();
    /// # let _ = rates;
    /// ```
    pub fn new() -> FixedRates {
        FixedRates::default()
    }

    /// Adds the rate `from → to` (units of `to` per unit of `from`).
    ///
    /// ```
    /// use customer_lifecycle::{Currency, FixedRates, Money};
    /// use customer_lifecycle::chrono::{TimeZone, Utc};
    /// let rates = FixedRates::new().with_rate(Currency::USD, Currency::EUR, "0.9".parse()?)?;
    /// let at = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    /// let eur = Money::parse("10", Currency::USD)?.convert(Currency::EUR, at, &rates)?;
    /// assert_eq!(eur, Money::parse("9", Currency::EUR)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the rate is not positive.
    pub fn with_rate(mut self, from: Currency, to: Currency, rate: Decimal) -> Result<FixedRates> {
        if rate <= Decimal::ZERO {
            return Err(Error::InvalidArgument {
                name: "exchange rate",
                reason: format!("{from}→{to} rate must be positive, got {rate}"),
            });
        }
        self.rates.insert(pair_key(from, to), rate);
        Ok(self)
    }
}

fn pair_key(from: Currency, to: Currency) -> String {
    format!("{from}/{to}")
}

impl ExchangeRates for FixedRates {
    fn rate(&self, from: Currency, to: Currency, _at: DateTime<Utc>) -> Option<Decimal> {
        if from == to {
            return Some(Decimal::ONE);
        }
        if let Some(r) = self.rates.get(&pair_key(from, to)) {
            return Some(*r);
        }
        self.rates.get(&pair_key(to, from)).and_then(|r| Decimal::ONE.checked_div(*r))
    }
}

/// How amounts are written in text: the decimal separator, an optional
/// digit-grouping separator, and whether a currency symbol or code may
/// stand beside the number.
///
/// The default, [`NumberFormat::PLAIN`], reads `1234.50` and refuses any
/// grouping (`1,234.50` is ambiguous until the format is said). A shop
/// export from much of Europe is [`NumberFormat::decimal_comma`]:
/// `12,50`, `1.234,50`, `-3,10 €`. Grouping, when allowed, must be
/// well-formed (one to three leading digits, then groups of exactly
/// three), so `1.23,4` is an error rather than a guess. A symbol never
/// changes the currency: it must agree with the row's (`€` with EUR, `$`
/// with a dollar currency, or the ISO code itself), else the value is an
/// error.
///
/// ```
/// use customer_lifecycle::{Currency, Money, NumberFormat};
/// use customer_lifecycle::rust_decimal::Decimal;
///
/// let comma = NumberFormat::decimal_comma();
/// assert_eq!(comma.parse("1.234,50 €", Currency::EUR)?, Money::new(Decimal::new(123450, 2), Currency::EUR));
/// assert_eq!(comma.parse("-12,5", Currency::EUR)?.amount(), Decimal::new(-125, 1));
/// assert!(comma.parse("12,50 £", Currency::EUR).is_err()); // the symbol disagrees
/// assert!(comma.parse("1.23,4", Currency::EUR).is_err()); // malformed grouping
/// assert!(NumberFormat::PLAIN.parse("1,234.50", Currency::USD).is_err());
/// assert_eq!(NumberFormat::PLAIN.grouping(',')?.parse("$1,234.50", Currency::USD)?.amount(), Decimal::new(123450, 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct NumberFormat {
    decimal: char,
    grouping: Option<char>,
}

impl Default for NumberFormat {
    fn default() -> NumberFormat {
        NumberFormat::PLAIN
    }
}

/// Characters that may group digits: `.`, `,`, `'`, `_`, a space, a
/// no-break space or a narrow no-break space.
const GROUPING: [char; 7] = ['.', ',', '\'', '_', ' ', '\u{a0}', '\u{202f}'];

/// Currency symbols with the currencies they may stand for. A symbol is
/// accepted beside an amount only when the row's currency is among them;
/// the ISO code is always accepted.
const SYMBOLS: [(&str, &[&str]); 16] = [
    ("€", &["EUR"]),
    ("£", &["GBP", "EGP", "GIP", "FKP", "SHP"]),
    ("US$", &["USD"]),
    ("$", &["USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN", "ARS", "CLP", "COP", "TWD"]),
    ("¥", &["JPY", "CNY"]),
    ("₹", &["INR"]),
    ("₩", &["KRW"]),
    ("₺", &["TRY"]),
    ("₽", &["RUB"]),
    ("₴", &["UAH"]),
    ("₪", &["ILS"]),
    ("zł", &["PLN"]),
    ("Kč", &["CZK"]),
    ("Ft", &["HUF"]),
    ("kr", &["SEK", "NOK", "DKK", "ISK"]),
    ("Fr.", &["CHF"]),
];

impl NumberFormat {
    /// A decimal point and no grouping: `1234.50`, `-3`, `1.5e3`.
    pub const PLAIN: NumberFormat = NumberFormat { decimal: '.', grouping: None };

    /// A decimal comma with `.` grouping: `12,50`, `1.234,50`.
    ///
    /// ```
    /// # use customer_lifecycle::{Currency, NumberFormat};
    /// assert_eq!(NumberFormat::decimal_comma().parse("1.000.000,01", Currency::EUR)?.amount().to_string(), "1000000.01");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decimal_comma() -> NumberFormat {
        NumberFormat { decimal: ',', grouping: Some('.') }
    }

    /// The same format with this grouping separator (one of `.`, `,`, `'`,
    /// `_`, a space, a no-break or narrow no-break space).
    ///
    /// ```
    /// # use customer_lifecycle::{Currency, NumberFormat};
    /// let swiss = NumberFormat::PLAIN.grouping('\'')?;
    /// assert_eq!(swiss.parse("CHF 1'234.50", Currency::CHF)?.amount().to_string(), "1234.50");
    /// assert!(NumberFormat::PLAIN.grouping('.').is_err()); // the decimal separator itself
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for another character or the decimal
    /// separator itself.
    pub fn grouping(self, separator: char) -> Result<NumberFormat> {
        if !GROUPING.contains(&separator) || separator == self.decimal {
            return Err(Error::InvalidArgument {
                name: "grouping separator",
                reason: format!("{separator:?} cannot group digits with the decimal separator {:?}", self.decimal),
            });
        }
        Ok(NumberFormat { grouping: Some(separator), ..self })
    }

    /// The decimal separator, `.` or `,`.
    ///
    /// ```
    /// # use customer_lifecycle::NumberFormat;
    /// assert_eq!(NumberFormat::decimal_comma().decimal_separator(), ',');
    /// ```
    pub fn decimal_separator(&self) -> char {
        self.decimal
    }

    /// Reads an amount in `currency`: an optional sign, the number in this
    /// format, and optionally the currency's symbol or ISO code before or
    /// after it.
    ///
    /// ```
    /// # use customer_lifecycle::{Currency, NumberFormat};
    /// let comma = NumberFormat::decimal_comma();
    /// for text in ["-3,10 €", "€ -3,10", "-€3,10", "EUR -3,10", "-3,1"] {
    ///     assert_eq!(comma.parse(text, Currency::EUR)?.amount().to_string().trim_end_matches('0'), "-3.1", "{text}");
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidAmount`] naming the text and what is wrong with it.
    pub fn parse(&self, text: &str, currency: Currency) -> Result<Money> {
        let amount = self.parse_amount(text, currency).map_err(|reason| Error::InvalidAmount {
            field: "amount",
            value: text.to_string(),
            customer: None,
            reason,
        })?;
        Ok(Money { amount, currency })
    }

    /// [`NumberFormat::parse`] with the reason as text, for the loaders.
    pub(crate) fn parse_amount(&self, text: &str, currency: Currency) -> std::result::Result<Decimal, String> {
        let t = text.trim();
        if *self == NumberFormat::PLAIN && t.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') {
            return parse_decimal(t); // the common case, without the symbol search
        }
        let (number, symbol) = strip_symbol(t);
        if let Some(symbol) = symbol {
            if symbol.chars().count() > 4 {
                return Err("not a decimal number".into());
            }
            let fits = symbol == currency.code()
                || SYMBOLS.iter().any(|(s, codes)| *s == symbol && codes.contains(&currency.code()));
            if !fits {
                return Err(format!("the symbol {symbol:?} is not one of {currency}"));
            }
        }
        let (sign, unsigned) = match number.strip_prefix(['-', '+']) {
            Some(rest) => (&number[..1], rest.trim_start()),
            None => ("", number.as_str()),
        };
        let (int, frac) = match unsigned.rsplit_once(self.decimal) {
            Some((i, f)) => (i, Some(f)),
            None => (unsigned, None),
        };
        let int = match self.grouping {
            Some(g) if int.contains(g) => {
                let mut groups = int.split(g);
                let first = groups.next().unwrap_or_default();
                let well_formed = (1..=3).contains(&first.len()) && groups.all(|grp| grp.len() == 3);
                if !well_formed {
                    return Err(format!("digits grouped by {g:?} must come in threes"));
                }
                int.replace(g, "")
            }
            _ => int.to_string(),
        };
        let plain = match frac {
            Some(f) => format!("{sign}{int}.{f}"),
            None => format!("{sign}{int}"),
        };
        if self.decimal == ',' && plain.contains(['e', 'E']) {
            return Err("not a decimal number".into());
        }
        parse_decimal(&plain)
    }
}

/// Splits a currency symbol or code off either end of an amount, with the
/// blanks beside it; a sign before a leading symbol (`-€3`) stays with the
/// number.
fn strip_symbol(t: &str) -> (String, Option<&str>) {
    let is_number = |c: char| c.is_ascii_digit() || c == '-' || c == '+';
    let (sign, rest) = match t.strip_prefix('-') {
        Some(r) if !r.starts_with(|c: char| c.is_ascii_digit()) => ("-", r),
        _ => ("", t),
    };
    if let Some(start) = rest.find(is_number) {
        let (head, tail) = rest.split_at(start);
        let head = head.trim();
        if !head.is_empty() {
            return (format!("{sign}{}", tail.trim()), Some(head));
        }
    }
    if let Some(end) = t.rfind(|c: char| c.is_ascii_digit()) {
        let (number, symbol) = t.split_at(end + 1);
        let symbol = symbol.trim();
        if !symbol.is_empty() && !symbol.starts_with(['.', ',']) {
            return (number.trim().to_string(), Some(symbol));
        }
    }
    (t.to_string(), None)
}

/// The one reading of a decimal amount in text: an optional sign, digits,
/// an optional point and digits, and optionally an exponent (`1.5e3`), with
/// surrounding blanks ignored. Digit separators are refused rather than
/// guessed (`1_000`, `1,000`, `1 000`: `rust_decimal` alone would read the
/// first as 1000).
pub(crate) fn parse_decimal(text: &str) -> std::result::Result<Decimal, String> {
    let t = text.trim();
    if let Some(d) = plain_decimal(t.as_bytes()) {
        return Ok(d);
    }
    let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let digits = mantissa.strip_prefix(['+', '-']).unwrap_or(mantissa);
    let well_formed = match digits.split_once('.') {
        Some((int, frac)) => (plain(int) || int.is_empty()) && (plain(frac) || (frac.is_empty() && plain(int))),
        None => plain(digits),
    } && exponent.is_none_or(|e| plain(e.strip_prefix(['+', '-']).unwrap_or(e)));
    if !well_formed {
        return Err("not a decimal number".into());
    }
    // The common case — at most 18 digits, no exponent, not a negative
    // zero — read here, exactly as rust_decimal would (same value, same
    // scale) at a fraction of its cost.
    if exponent.is_none() {
        let negative = mantissa.starts_with('-');
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if int.len() + frac.len() <= 18 {
            let n = int.bytes().chain(frac.bytes()).fold(0i64, |n, b| n * 10 + i64::from(b - b'0'));
            if n != 0 || !negative {
                return Ok(Decimal::new(if negative { -n } else { n }, frac.len() as u32));
            }
        }
    }
    let parsed = if exponent.is_some() { Decimal::from_scientific(t) } else { Decimal::from_str(t) };
    parsed.map_err(|e| format!("not a decimal number ({e})"))
}

/// The commonest amounts in one pass over their bytes: an optional sign,
/// at most 18 digits with at most one `.` among or around them (`12`,
/// `12.50`, `.5`, `12.`), not a negative zero; the value and scale
/// rust_decimal reads. `None` for anything else, which the general reading
/// then takes (or refuses).
fn plain_decimal(b: &[u8]) -> Option<Decimal> {
    let (negative, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    let (mut n, mut count, mut point, mut scale) = (0i64, 0u32, false, 0u32);
    for &c in digits {
        match c {
            b'0'..=b'9' if count < 18 => {
                n = n * 10 + i64::from(c - b'0');
                count += 1;
                scale += u32::from(point);
            }
            b'.' if !point => point = true,
            _ => return None,
        }
    }
    if count == 0 || (negative && n == 0) {
        return None;
    }
    Some(Decimal::new(if negative { -n } else { n }, scale))
}

/// Scales a decimal to an integer count of `10^-scale` units, if exact and in range.
pub(crate) fn to_minor_units(d: Decimal, scale: u32) -> Option<i64> {
    if d.scale() > scale {
        return None;
    }
    let mantissa = d.mantissa();
    let factor = 10i128.checked_pow(scale - d.scale())?;
    i64::try_from(mantissa.checked_mul(factor)?).ok()
}

/// The decimal value of `units × 10^-scale`.
pub(crate) fn from_minor_units(units: i128, scale: u32) -> Option<Decimal> {
    Decimal::try_from_i128_with_scale(units, scale).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(s: &str) -> Money {
        Money::parse(s, Currency::USD).unwrap()
    }

    #[test]
    fn currency_validation() {
        assert!(Currency::new("US").is_err());
        assert!(Currency::new("US1").is_err());
        assert!(Currency::new("USDX").is_err());
        assert!(Currency::new("€€€").is_err());
        assert_eq!(Currency::new("usd").unwrap(), Currency::USD);
        assert_eq!(Currency::KWD_TEST.minor_units(), 3);
    }

    impl Currency {
        const KWD_TEST: Currency = Currency(*b"KWD");
    }

    #[test]
    fn mixed_currencies_are_refused() {
        let e = usd("1").checked_add(Money::parse("1", Currency::EUR).unwrap()).unwrap_err();
        assert!(matches!(e, Error::MixedCurrency { .. }));
        let e = usd("1").checked_sub(Money::parse("1", Currency::EUR).unwrap()).unwrap_err();
        assert!(matches!(e, Error::MixedCurrency { .. }));
    }

    #[test]
    fn arithmetic_is_exact() {
        let sum = usd("0.1").checked_add(usd("0.2")).unwrap();
        assert_eq!(sum.amount(), Decimal::new(3, 1));
        assert_eq!(usd("5").checked_sub(usd("7.5")).unwrap().amount(), Decimal::new(-25, 1));
        assert!(usd("-1").is_negative());
        assert!(!usd("-0").is_negative());
    }

    #[test]
    fn overflow_is_an_error() {
        let big = Money::new(Decimal::MAX, Currency::USD);
        assert!(matches!(big.checked_add(big), Err(Error::AmountOverflow { .. })));
        assert!(matches!(big.checked_mul(Decimal::TWO), Err(Error::AmountOverflow { .. })));
    }

    #[test]
    fn non_finite_floats_are_refused() {
        assert!(matches!(Money::from_f64(f64::NAN, Currency::USD), Err(Error::NonFinite { .. })));
        assert!(matches!(Money::from_f64(f64::INFINITY, Currency::USD), Err(Error::NonFinite { .. })));
        assert_eq!(Money::from_f64(2.675, Currency::USD).unwrap().amount(), Decimal::new(267, 2));
        assert!(Money::parse("NaN", Currency::USD).is_err());
        assert!(Money::parse("inf", Currency::USD).is_err());
    }

    #[test]
    fn conversion_uses_given_rates_and_inverse() {
        let rates = FixedRates::new().with_rate(Currency::EUR, Currency::USD, Decimal::new(125, 2)).unwrap();
        let at = DateTime::UNIX_EPOCH;
        let m = usd("10").convert(Currency::EUR, at, &rates).unwrap();
        assert_eq!(m.amount(), Decimal::new(800, 2));
        let e = usd("10").convert(Currency::GBP, at, &rates).unwrap_err();
        assert!(matches!(e, Error::MissingExchangeRate { .. }));
        assert!(FixedRates::new().with_rate(Currency::EUR, Currency::USD, Decimal::ZERO).is_err());
    }

    #[test]
    fn f64_conversion_is_nearest() {
        assert_eq!(usd("27.14").to_f64(), 27.14);
        assert_eq!(usd("0.1").to_f64(), 0.1);
    }

    #[test]
    fn minor_units_round_trip() {
        assert_eq!(to_minor_units(Decimal::new(1234, 2), 2), Some(1234));
        assert_eq!(to_minor_units(Decimal::new(1234, 2), 4), Some(123400));
        assert_eq!(to_minor_units(Decimal::new(1234, 3), 2), None);
        assert_eq!(from_minor_units(123400, 4), Some(Decimal::new(1234, 2)));
    }

    #[test]
    fn serde_round_trip() {
        let m = usd("12.50");
        let s = serde_json::to_string(&m).unwrap();
        assert_eq!(s, r#"{"amount":"12.50","currency":"USD"}"#);
        let back: Money = serde_json::from_str(&s).unwrap();
        assert_eq!(back, m);
        assert!(serde_json::from_str::<Currency>("\"US\"").is_err());
    }

    /// Writes `units / 100` as a shop would: grouped, with the format's
    /// separators, and a symbol before or after.
    fn shop_text(units: i64, format: NumberFormat, symbol: &str, before: bool) -> String {
        let digits = (units.unsigned_abs() / 100).to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                if let Some(g) = format.grouping {
                    grouped.push(g);
                }
            }
            grouped.push(c);
        }
        let number =
            format!("{}{grouped}{}{:02}", if units < 0 { "-" } else { "" }, format.decimal, units.unsigned_abs() % 100);
        match (symbol, before) {
            ("", _) => number,
            (s, true) => format!("{s} {number}"),
            (s, false) => format!("{number} {s}"),
        }
    }

    proptest::proptest! {
        #[test]
        fn shop_amounts_read_back_exactly(units in -10_000_000_000i64..10_000_000_000, style in 0usize..4, symbol in 0usize..3, before: bool) {
            let format = [
                NumberFormat::PLAIN,
                NumberFormat::decimal_comma(),
                NumberFormat::PLAIN.grouping(',').unwrap(),
                NumberFormat::decimal_comma().grouping(' ').unwrap(),
            ][style];
            let text = shop_text(units, format, ["", "€", "EUR"][symbol], before);
            let read = format.parse(&text, Currency::EUR).unwrap();
            proptest::prop_assert_eq!(read.amount(), Decimal::new(units, 2), "{}", text);
            // The same text in another currency is refused when it names one.
            proptest::prop_assert_eq!(format.parse(&text, Currency::CHF).is_err(), symbol != 0, "{}", text);
        }

        /// The hand-read common case gives rust_decimal's value, scale and sign.
        #[test]
        fn decimals_read_as_rust_decimal_reads_them(text in "[-+]?[0-9]{0,20}(\\.[0-9]{0,20})?") {
            // Whatever is accepted reads as rust_decimal reads it (the
            // loader refuses some texts rust_decimal takes, never the reverse).
            if let Ok(a) = parse_decimal(&text) {
                let b = Decimal::from_str(&text).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
                proptest::prop_assert_eq!(a, b, "{}", text);
                proptest::prop_assert_eq!(a.scale(), b.scale(), "{}", text);
                proptest::prop_assert_eq!(a.is_sign_negative(), b.is_sign_negative(), "{}", text);
            }
        }
    }
}
