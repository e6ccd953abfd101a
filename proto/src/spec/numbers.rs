//! Deserializers for whole numbers that JSON may write as `100` or `100.0`, and for the
//! v2/v3 string-typed ports (`"35051"`).

use serde::Deserialize;
use serde::de::{Deserializer, Error, Unexpected};

/// A whole, non-negative JSON number that fits `T`.
pub(crate) fn whole<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let x = f64::deserialize(d)?;
    to_whole(x).map_err(D::Error::custom)
}

pub(crate) fn whole_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let xs = Vec::<f64>::deserialize(d)?;
    xs.into_iter()
        .map(|x| to_whole(x).map_err(D::Error::custom))
        .collect()
}

pub(crate) fn whole_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    match Option::<f64>::deserialize(d)? {
        None => Ok(None),
        Some(x) => to_whole(x).map(Some).map_err(D::Error::custom),
    }
}

fn to_whole<T: TryFrom<u64>>(x: f64) -> Result<T, String> {
    // 2^53: beyond it f64 no longer holds every integer, and no field here needs it.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if !(0.0..=EXACT).contains(&x) || x.fract() != 0.0 {
        return Err(format!("expected a whole non-negative number, found {x}"));
    }
    T::try_from(x as u64).map_err(|_| format!("{x} is out of range"))
}

/// A port written as a number or as a numeric string (v2/v3).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoosePort(pub u16);

impl<'de> Deserialize<'de> for LoosePort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        let x = match Raw::deserialize(d)? {
            Raw::Number(x) => x,
            Raw::Text(s) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| D::Error::invalid_value(Unexpected::Str(&s), &"a port number"))?,
        };
        to_whole::<u16>(x).map(LoosePort).map_err(D::Error::custom)
    }
}
