//! Query strings: only the parameters an endpoint knows, each at most once.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use warp::Filter;

use crate::error::ApiError;

/// The raw query string, empty when there is none (never a rejection).
pub(crate) fn raw_query() -> impl Filter<Extract = (String,), Error = std::convert::Infallible> + Clone {
    warp::query::raw().or(warp::any().map(String::new)).unify()
}

/// The parameters of `raw`, refusing unknown and repeated ones.
pub(crate) fn parse(raw: &str, known: &[&str]) -> Result<HashMap<String, String>, ApiError> {
    let mut params = HashMap::new();
    for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
        if !known.contains(&name.as_ref()) {
            return Err(ApiError::BadRequest(format!(
                "Unknown query parameter '{name}' (expected: {})",
                known.join(", ")
            )));
        }
        if params.insert(name.to_string(), value.into_owned()).is_some() {
            return Err(ApiError::BadRequest(format!("Query parameter '{name}' given more than once")));
        }
    }
    Ok(params)
}

/// The `limit` parameter: `default` when absent, else an integer in `1..=max`.
pub(crate) fn limit(params: &HashMap<String, String>, default: usize, max: usize) -> Result<usize, ApiError> {
    let Some(raw) = params.get("limit") else { return Ok(default) };
    match raw.trim().parse::<usize>() {
        Ok(limit) if (1..=max).contains(&limit) => Ok(limit),
        _ => Err(ApiError::BadRequest(format!("Invalid limit '{raw}': must be an integer from 1 to {max}"))),
    }
}

/// The time parameter `name`, if given: RFC 3339, else a 400 that says so.
pub(crate) fn time(params: &HashMap<String, String>, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    params
        .get(name)
        .map(|raw| {
            DateTime::parse_from_rfc3339(raw).map(|at| at.with_timezone(&Utc)).map_err(|_| {
                ApiError::BadRequest(format!(
                    "Invalid {name} '{raw}': must be an RFC 3339 time, e.g. 2024-06-01T00:00:00Z"
                ))
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        let p = |raw: &str| parse(raw, &["limit", "cursor"]).unwrap();
        assert_eq!(limit(&p(""), 50, 1000).unwrap(), 50);
        assert_eq!(limit(&p("limit=1000"), 50, 1000).unwrap(), 1000);
        for bad in ["limit=0", "limit=1001", "limit=abc", "limit=-1", "limit="] {
            assert!(limit(&p(bad), 50, 1000).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_and_repeated_parameters_are_refused() {
        assert!(parse("limit=1&color=red", &["limit"]).is_err());
        assert!(parse("limit=1&limit=2", &["limit"]).is_err());
        assert_eq!(parse("cursor=a%2Bb", &["cursor"]).unwrap()["cursor"], "a+b");
    }

    #[test]
    fn times_are_rfc_3339() {
        let p = |raw: &str| parse(raw, &["since"]).unwrap();
        assert_eq!(time(&p(""), "since").unwrap(), None);
        let at = time(&p("since=2024-06-01T02:00:00%2B02:00"), "since").unwrap().unwrap();
        assert_eq!(at.to_rfc3339(), "2024-06-01T00:00:00+00:00");
        for bad in ["since=yesterday", "since=2024-06-01", "since="] {
            assert!(time(&p(bad), "since").is_err(), "{bad}");
        }
    }
}
