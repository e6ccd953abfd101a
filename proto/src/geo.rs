//! Node locations and app geolocation expressions.
//!
//! A node's location is `CONT_CC_REGION`, e.g. `EU_DE_Hesse` or `NA_US_Texas`: an ip-api
//! continent code, an ISO 3166-1 alpha-2 country code and an ip-api region name (which may
//! contain spaces). Country and region may be absent (`EU`, `EU_DE`).
//!
//! An app's `geolocation` array holds entries in these forms (FluxOS syntax):
//!
//! | entry          | meaning                                             |
//! |----------------|-----------------------------------------------------|
//! | `acEU`         | allow nodes in continent EU                         |
//! | `acEU_DE`      | allow nodes in Germany                              |
//! | `acEU_DE_HE`   | allow nodes in that region                          |
//! | `a!cNA_US`     | deny nodes in the United States                     |
//! | `aEU` (legacy) | allow continent EU (apps of version ≤ 5)            |
//! | `bDE` (legacy) | allow country DE, whatever the continent            |
//!
//! Matching is by prefix over whole `_`-separated segments, compared ASCII
//! case-insensitively (ip-api region names are not consistently cased across sources).
//! A node is eligible when it matches no deny entry and, if there is at least one allow
//! entry, matches at least one of them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A node location, `CONT_CC_REGION`, split into its segments.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Location {
    /// Continent code, e.g. `EU`.
    pub continent: String,
    /// Country code, e.g. `DE`; empty when unknown.
    pub country: String,
    /// Region name, e.g. `Hesse`; empty when unknown.
    pub region: String,
}

/// Why a location or geolocation entry could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeoError {
    #[error("location is empty; expected CONT_CC_REGION such as EU_DE_Hesse")]
    EmptyLocation,
    #[error("location {0:?} has an empty segment; expected CONT_CC_REGION such as EU_DE_Hesse")]
    EmptySegment(String),
    #[error(
        "geolocation entry {0:?} is not understood; expected acCONT[_CC[_REGION]], a!cCONT[_CC[_REGION]], aCONT or bCC"
    )]
    UnknownEntry(String),
}

impl Location {
    /// Parses `CONT`, `CONT_CC` or `CONT_CC_REGION`. The region may itself contain `_`.
    pub fn parse(s: &str) -> Result<Self, GeoError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(GeoError::EmptyLocation);
        }
        let mut parts = s.splitn(3, '_');
        let continent = parts.next().unwrap_or_default().to_string();
        let country = parts.next().unwrap_or_default().to_string();
        let region = parts.next().unwrap_or_default().to_string();
        let has_country_sep = s.contains('_');
        if continent.is_empty()
            || (has_country_sep && country.is_empty())
            || (s.matches('_').count() >= 2 && region.is_empty())
        {
            return Err(GeoError::EmptySegment(s.to_string()));
        }
        Ok(Self {
            continent,
            country,
            region,
        })
    }

    /// The location's segments, most general first, without empty trailing segments.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        [
            self.continent.as_str(),
            self.country.as_str(),
            self.region.as_str(),
        ]
        .into_iter()
        .take_while(|s| !s.is_empty())
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let segments: Vec<&str> = self.segments().collect();
        f.write_str(&segments.join("_"))
    }
}

impl TryFrom<String> for Location {
    type Error = GeoError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Location> for String {
    fn from(value: Location) -> Self {
        value.to_string()
    }
}

impl std::str::FromStr for Location {
    type Err = GeoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// What part of a location a geolocation prefix is matched against.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum GeoPrefix {
    /// Segments from the continent down: `["EU"]`, `["EU", "DE"]`, `["NA", "US", "Texas"]`.
    Path(Vec<String>),
    /// Legacy `bCC`: a country code, whatever the continent.
    Country(String),
}

impl GeoPrefix {
    /// Whether `location` lies inside this prefix.
    pub fn contains(&self, location: &Location) -> bool {
        match self {
            GeoPrefix::Path(path) => {
                let mut segments = location.segments();
                path.iter().all(|want| {
                    segments
                        .next()
                        .is_some_and(|have| have.eq_ignore_ascii_case(want))
                })
            }
            GeoPrefix::Country(cc) => location.country.eq_ignore_ascii_case(cc),
        }
    }
}

/// One parsed geolocation entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum GeoRule {
    Allow(GeoPrefix),
    Deny(GeoPrefix),
}

impl GeoRule {
    /// Parses one entry of an app's `geolocation` array.
    pub fn parse(entry: &str) -> Result<Self, GeoError> {
        let unknown = || GeoError::UnknownEntry(entry.to_string());
        let path = |rest: &str| -> Result<GeoPrefix, GeoError> {
            let segments: Vec<String> = rest.splitn(3, '_').map(str::to_string).collect();
            if segments.iter().any(String::is_empty) {
                return Err(unknown());
            }
            Ok(GeoPrefix::Path(segments))
        };
        if let Some(rest) = entry.strip_prefix("a!c") {
            Ok(GeoRule::Deny(path(rest)?))
        } else if let Some(rest) = entry.strip_prefix("ac") {
            Ok(GeoRule::Allow(path(rest)?))
        } else if let Some(rest) = entry.strip_prefix('a') {
            // Legacy continent entry: exactly a continent code.
            if rest.is_empty() || rest.contains('_') {
                return Err(unknown());
            }
            Ok(GeoRule::Allow(GeoPrefix::Path(vec![rest.to_string()])))
        } else if let Some(rest) = entry.strip_prefix('b') {
            if rest.is_empty() || rest.contains('_') {
                return Err(unknown());
            }
            Ok(GeoRule::Allow(GeoPrefix::Country(rest.to_string())))
        } else {
            Err(unknown())
        }
    }
}

/// An app's geolocation constraints, ready to match node locations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GeoFilter {
    pub allow: Vec<GeoPrefix>,
    pub deny: Vec<GeoPrefix>,
}

impl GeoFilter {
    /// Parses every entry; fails on the first that is not understood.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, GeoError> {
        let mut filter = Self::default();
        for entry in entries {
            filter.push(GeoRule::parse(entry.as_ref())?);
        }
        Ok(filter)
    }

    /// Parses what it understands and returns the entries it skipped. FluxOS itself only
    /// checks the count and length of entries, so specs on chain can hold entries such as
    /// `NA_US`; the scheduler ignores those rather than refusing the app.
    pub fn parse_lenient<S: AsRef<str>>(entries: &[S]) -> (Self, Vec<GeoError>) {
        let mut filter = Self::default();
        let mut skipped = Vec::new();
        for entry in entries {
            match GeoRule::parse(entry.as_ref()) {
                Ok(rule) => filter.push(rule),
                Err(e) => skipped.push(e),
            }
        }
        (filter, skipped)
    }

    fn push(&mut self, rule: GeoRule) {
        match rule {
            GeoRule::Allow(p) => self.allow.push(p),
            GeoRule::Deny(p) => self.deny.push(p),
        }
    }

    /// True when the filter places no constraint.
    pub fn is_unconstrained(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }

    /// Whether a node at `location` may host the app.
    pub fn admits(&self, location: &Location) -> bool {
        let denied = self.deny.iter().any(|p| p.contains(location));
        let allowed = self.allow.is_empty() || self.allow.iter().any(|p| p.contains(location));
        allowed && !denied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(s: &str) -> Location {
        Location::parse(s).unwrap()
    }

    #[test]
    fn location_parses_all_depths_and_keeps_underscores_in_region() {
        assert_eq!(loc("EU").segments().count(), 1);
        assert_eq!(loc("EU_DE").country, "DE");
        let l = loc("NA_US_New_York");
        assert_eq!(
            (l.continent.as_str(), l.country.as_str(), l.region.as_str()),
            ("NA", "US", "New_York")
        );
        assert_eq!(l.to_string(), "NA_US_New_York");
        assert!(Location::parse("").is_err());
        assert!(Location::parse("EU__HE").is_err());
        assert!(Location::parse("_DE").is_err());
    }

    #[test]
    fn rules_parse_every_documented_form() {
        assert_eq!(
            GeoRule::parse("acEU").unwrap(),
            GeoRule::Allow(GeoPrefix::Path(vec!["EU".into()]))
        );
        assert_eq!(
            GeoRule::parse("acNA_US_Texas").unwrap(),
            GeoRule::Allow(GeoPrefix::Path(vec![
                "NA".into(),
                "US".into(),
                "Texas".into()
            ]))
        );
        assert_eq!(
            GeoRule::parse("a!cNA_US").unwrap(),
            GeoRule::Deny(GeoPrefix::Path(vec!["NA".into(), "US".into()]))
        );
        assert_eq!(
            GeoRule::parse("aEU").unwrap(),
            GeoRule::Allow(GeoPrefix::Path(vec!["EU".into()]))
        );
        assert_eq!(
            GeoRule::parse("bDE").unwrap(),
            GeoRule::Allow(GeoPrefix::Country("DE".into()))
        );
        for bad in ["", "NA_US", "ac", "a!c", "acEU__X", "xEU", "b", "aEU_DE"] {
            assert!(GeoRule::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn matching_is_by_whole_segments() {
        let f = GeoFilter::parse(&["acEU_DE"]).unwrap();
        assert!(f.admits(&loc("EU_DE_Hesse")));
        assert!(f.admits(&loc("EU_DE")));
        assert!(
            !f.admits(&loc("EU")),
            "a continent-only node is not known to be in DE"
        );
        assert!(!f.admits(&loc("EU_DK_Zealand")));
        let g = GeoFilter::parse(&["acEU_D"]).unwrap();
        assert!(!g.admits(&loc("EU_DE_Hesse")), "no partial-segment match");
    }

    #[test]
    fn deny_wins_over_allow_and_allow_list_restricts() {
        let f = GeoFilter::parse(&["acNA", "a!cNA_US_Hawaii"]).unwrap();
        assert!(f.admits(&loc("NA_US_Texas")));
        assert!(f.admits(&loc("NA_CA_Ontario")));
        assert!(!f.admits(&loc("NA_US_Hawaii")));
        assert!(!f.admits(&loc("EU_DE_Hesse")));
        let deny_only = GeoFilter::parse(&["a!cAS"]).unwrap();
        assert!(deny_only.admits(&loc("EU_FI_Uusimaa")));
        assert!(!deny_only.admits(&loc("AS_SG_Singapore")));
        assert!(GeoFilter::default().admits(&loc("OC_AU_Victoria")));
    }

    #[test]
    fn legacy_entries_match_continent_or_country() {
        let f = GeoFilter::parse(&["aEU", "bUS"]).unwrap();
        assert!(f.admits(&loc("EU_FR_Normandy")));
        assert!(f.admits(&loc("NA_US_Ohio")));
        assert!(!f.admits(&loc("NA_CA_Quebec")));
    }

    #[test]
    fn case_insensitive_and_lenient_parse_reports_skips() {
        let (f, skipped) = GeoFilter::parse_lenient(&["acna_us", "NA_US"]);
        assert_eq!(skipped.len(), 1);
        assert!(f.admits(&loc("NA_US_Texas")));
    }
}
