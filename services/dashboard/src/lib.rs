//! The hookline dashboard: one web page to choose a tenant, manage its subscriptions,
//! send it events (or a signed webhook to one subscription), follow events and
//! deliveries, and recover from failures (dead letters, disabled subscriptions,
//! replays), served at `/` (and its files under `/assets/`) by every process that
//! runs the api role.
//!
//! Consumes: `GET`/`HEAD` requests for `/` and `/assets/…`; the page itself then talks
//! only to the REST API of the same origin, under `/api/v1`.
//! Produces: the page, its stylesheets and its JavaScript modules, compiled into the
//! binary: plain files, no build step, nothing loaded from another origin.
//! Guarantees: every answer carries a strict Content-Security-Policy
//! (`default-src 'self'`), `nosniff` and the file's exact content type; browsers
//! revalidate by `ETag` each time, so a new binary's page is picked up at once and an
//! unchanged one costs a 304. Any other method on these paths is a 405 with `Allow`;
//! an unknown asset is left to the caller's not-found answer.

mod assets;
mod reply;

use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, Method};
use warp::path::Tail;
use warp::reply::Response;
use warp::Filter;

use assets::Asset;

/// `/` and `/assets/…`: the dashboard as a warp filter, to be `or`-ed into a route tree.
pub fn routes() -> BoxedFilter<(Response,)> {
    let page = warp::path::end().map(|| &assets::PAGE);
    let asset = warp::path("assets")
        .and(warp::path::tail())
        .and_then(|tail: Tail| async move { assets::find(tail.as_str()).ok_or_else(warp::reject::not_found) });
    page.or(asset)
        .unify()
        .and(warp::method())
        .and(warp::header::headers_cloned())
        .map(|asset: &'static Asset, method: Method, headers: HeaderMap| reply::answer(asset, &method, &headers))
        .boxed()
}
