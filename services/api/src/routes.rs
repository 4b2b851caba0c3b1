//! The route tree: one tree of endpoints mounted under `/api/v1` and `/api`, plus
//! `/health`, and the one `recover` that turns warp's own rejections into JSON errors.
//!
//! Every path ends in a fallback that refuses other methods with 405 and `Allow`, and
//! no filter after a method match rejects (query strings, ids and bodies are judged by
//! the handlers), so the only rejections left are "no such path" and "wrong method" —
//! and the caller's token, revoked between the edge and the route, which `recover`
//! answers as the edge would (401) before any other.

use std::convert::Infallible;
use std::sync::Arc;

use serde_json::json;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::body::{body_stream, BodyStream};
use crate::caller::{caller, Caller};
use crate::edge::{self, Refused};
use crate::error::ApiError;
use crate::probes::{self, Probes};
use crate::query::raw_query;
use crate::reply::{error_response, into_response, ApiReply};
use crate::state::ApiState;
use crate::{dead_letters, events, ingest, overview, replays, stats, status, subscriptions, tasks, tenants, tokens};

/// The first of the filters that matches: `a.or(b).unify().or(c).unify()…`.
macro_rules! first_of {
    ($first:expr $(, $rest:expr)* $(,)?) => {
        $first $(.or($rest).unify())*
    };
}

/// A known path asked with a method it does not serve.
#[derive(Debug)]
struct WrongMethod {
    allow: &'static str,
}

impl warp::reject::Reject for WrongMethod {}

fn wrong_method(allow: &'static str) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::any().and_then(move || async move { Err::<Response, _>(warp::reject::custom(WrongMethod { allow })) })
}

/// The fallback of a path with one parameter.
fn wrong_method_on<P>(path: P, allow: &'static str) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone
where
    P: Filter<Extract = (String,), Error = Rejection> + Clone,
{
    path.and(wrong_method(allow)).map(|_: String, reply: Response| reply)
}

fn with_state(state: &Arc<ApiState>) -> impl Filter<Extract = (Arc<ApiState>,), Error = Infallible> + Clone {
    let state = state.clone();
    warp::any().map(move || state.clone())
}

/// The state and the caller, whom every endpoint but `/ingest` acts for.
fn scoped(state: &Arc<ApiState>) -> impl Filter<Extract = (Arc<ApiState>, Caller), Error = Rejection> + Clone {
    with_state(state).and(caller(state))
}

/// A request's headers and its body, streamed: the handlers judge the content type
/// and the size themselves.
fn headers_and_body() -> impl Filter<Extract = (HeaderMap, BodyStream), Error = Rejection> + Clone {
    warp::header::headers_cloned().and(body_stream())
}

fn health() -> BoxedFilter<(Response,)> {
    let ok = warp::path!("health")
        .and(warp::get())
        .map(|| into_response(ApiReply::json(StatusCode::OK, &json!({ "status": "ok" }))));
    first_of!(ok, warp::path!("health").and(wrong_method("GET"))).boxed()
}

/// `/ready` and `/metrics`, at the root like `/health`.
fn probe_routes(probes: Probes) -> BoxedFilter<(Response,)> {
    let with_probes = move || {
        let probes = probes.clone();
        warp::any().map(move || probes.clone())
    };
    let ready = warp::path!("ready").and(warp::get()).and(with_probes()).then(probes::ready);
    let metrics = warp::path!("metrics").and(warp::get()).and(with_probes()).then(probes::metrics);
    first_of!(
        ready,
        warp::path!("ready").and(wrong_method("GET")),
        metrics,
        warp::path!("metrics").and(wrong_method("GET"))
    )
    .boxed()
}

fn subscription_routes(state: &Arc<ApiState>) -> BoxedFilter<(Response,)> {
    let collection = || warp::path!("subscriptions");
    let list = collection()
        .and(warp::get())
        .and(scoped(state))
        .and(warp::path::full())
        .and(raw_query())
        .then(subscriptions::list)
        .map(into_response);
    let create = collection()
        .and(warp::post())
        .and(scoped(state))
        .and(headers_and_body())
        .then(subscriptions::create)
        .map(into_response);

    let one = || warp::path!("subscriptions" / String);
    let get = one().and(warp::get()).and(scoped(state)).then(subscriptions::get).map(into_response);
    let update = one()
        .and(warp::put())
        .and(scoped(state))
        .and(headers_and_body())
        .then(subscriptions::update)
        .map(into_response);
    let delete = one()
        .and(warp::delete())
        .and(scoped(state))
        .and(warp::header::headers_cloned())
        .then(subscriptions::delete)
        .map(into_response);
    let rotate_path = || warp::path!("subscriptions" / String / "secret" / "rotate");
    let rotate = rotate_path()
        .and(warp::post())
        .and(scoped(state))
        .and(headers_and_body())
        .then(subscriptions::rotate_secret)
        .map(into_response);

    first_of!(
        list,
        create,
        collection().and(wrong_method("GET, POST")),
        get,
        update,
        delete,
        wrong_method_on(one(), "GET, PUT, DELETE"),
        rotate,
        wrong_method_on(rotate_path(), "POST")
    )
    .boxed()
}

fn ingest_route(state: &Arc<ApiState>) -> BoxedFilter<(Response,)> {
    let path = || warp::path!("ingest" / String);
    let post =
        path().and(warp::post()).and(with_state(state)).and(headers_and_body()).then(ingest::ingest).map(into_response);
    first_of!(post, wrong_method_on(path(), "POST")).boxed()
}

fn status_routes(state: &Arc<ApiState>) -> BoxedFilter<(Response,)> {
    let task_path = || warp::path!("status" / "delivery_tasks" / String);
    let task = task_path().and(warp::get()).and(scoped(state)).then(status::delivery_task).map(into_response);
    let attempts_path = || warp::path!("status" / "subscriptions" / String / "attempts");
    let attempts = attempts_path()
        .and(warp::get())
        .and(scoped(state))
        .and(raw_query())
        .then(status::subscription_attempts)
        .map(into_response);
    first_of!(task, wrong_method_on(task_path(), "GET"), attempts, wrong_method_on(attempts_path(), "GET")).boxed()
}

/// The dashboard's endpoints: the task and dead-letter listings, retries by hand,
/// subscription statistics.
fn task_routes(state: &Arc<ApiState>) -> BoxedFilter<(Response,)> {
    let list_path = || warp::path!("tasks");
    let list = list_path().and(warp::get()).and(scoped(state)).and(raw_query()).then(tasks::list).map(into_response);
    let dead_letters_path = || warp::path!("dead-letters");
    let dead_letters = dead_letters_path()
        .and(warp::get())
        .and(scoped(state))
        .and(raw_query())
        .then(dead_letters::list)
        .map(into_response);
    let retry_path = || warp::path!("tasks" / String / "retry");
    let retry = retry_path().and(warp::post()).and(scoped(state)).then(tasks::retry).map(into_response);
    let stats_path = || warp::path!("subscriptions" / String / "stats");
    let stats = stats_path().and(warp::get()).and(scoped(state)).then(stats::subscription_stats).map(into_response);
    first_of!(
        list,
        list_path().and(wrong_method("GET")),
        dead_letters,
        dead_letters_path().and(wrong_method("GET")),
        retry,
        wrong_method_on(retry_path(), "POST"),
        stats,
        wrong_method_on(stats_path(), "GET")
    )
    .boxed()
}

fn tenant_routes(state: &Arc<ApiState>) -> BoxedFilter<(Response,)> {
    let collection = || warp::path!("tenants");
    let list = collection().and(warp::get()).and(scoped(state)).and(raw_query()).then(tenants::list);
    let create = collection().and(warp::post()).and(scoped(state)).and(headers_and_body()).then(tenants::create);
    let one = || warp::path!("tenants" / String);
    let get = one().and(warp::get()).and(scoped(state)).then(tenants::get);
    let update = one().and(warp::put()).and(scoped(state)).and(headers_and_body()).then(tenants::update);
    let delete = one().and(warp::delete()).and(scoped(state)).then(tenants::delete);
    first_of!(
        first_of!(list, create, get, update, delete).map(into_response),
        collection().and(wrong_method("GET, POST")),
        wrong_method_on(one(), "GET, PUT, DELETE")
    )
    .boxed()
}

fn token_routes(state: &Arc<ApiState>) -> BoxedFilter<(Response,)> {
    let collection = || warp::path!("tenants" / String / "tokens");
    let list = collection().and(warp::get()).and(scoped(state)).then(tokens::list);
    let create = collection().and(warp::post()).and(scoped(state)).and(headers_and_body()).then(tokens::create);
    let one = || warp::path!("tenants" / String / "tokens" / String);
    let revoke = one().and(warp::delete()).and(scoped(state)).then(tokens::revoke);
    let one_path = one().map(|_: String, _: String| ()).untuple_one();
    first_of!(
        first_of!(list, create, revoke).map(into_response),
        wrong_method_on(collection(), "GET, POST"),
        one_path.and(wrong_method("DELETE"))
    )
    .boxed()
}

fn event_routes(state: &Arc<ApiState>) -> BoxedFilter<(Response,)> {
    let collection = || warp::path!("events");
    let send = collection()
        .and(warp::post())
        .and(scoped(state))
        .and(raw_query())
        .and(headers_and_body())
        .then(events::send)
        .map(into_response);
    let list = collection().and(warp::get()).and(scoped(state)).and(raw_query()).then(events::list).map(into_response);
    let one = || warp::path!("events" / String);
    let get = one().and(warp::get()).and(scoped(state)).then(events::get).map(into_response);
    first_of!(send, list, collection().and(wrong_method("GET, POST")), get, wrong_method_on(one(), "GET")).boxed()
}

/// The dashboard's overview.
fn overview_route(state: &Arc<ApiState>) -> BoxedFilter<(Response,)> {
    let path = || warp::path!("overview");
    let get = path().and(warp::get()).and(scoped(state)).and(raw_query()).then(overview::overview).map(into_response);
    first_of!(get, path().and(wrong_method("GET"))).boxed()
}

fn replay_routes(state: &Arc<ApiState>) -> BoxedFilter<(Response,)> {
    let collection = || warp::path!("replays");
    let create = collection().and(warp::post()).and(scoped(state)).and(headers_and_body()).then(replays::create);
    let list = collection().and(warp::get()).and(scoped(state)).and(raw_query()).then(replays::list);
    let one = || warp::path!("replays" / String);
    let get = one().and(warp::get()).and(scoped(state)).then(replays::get);
    let cancel = one().and(warp::delete()).and(scoped(state)).then(replays::cancel);
    first_of!(
        first_of!(create, list, get, cancel).map(into_response),
        collection().and(wrong_method("GET, POST")),
        wrong_method_on(one(), "GET, DELETE")
    )
    .boxed()
}

/// Every endpoint of one API version.
fn endpoints(state: &Arc<ApiState>) -> BoxedFilter<(Response,)> {
    first_of!(
        subscription_routes(state),
        tenant_routes(state),
        token_routes(state),
        event_routes(state),
        ingest_route(state),
        status_routes(state),
        task_routes(state),
        overview_route(state),
        replay_routes(state),
        health()
    )
    .boxed()
}

/// The whole API: `/health`, `/ready`, `/metrics`, and the endpoints under `/api/v1` and `/api`.
pub(crate) fn tree(
    state: Arc<ApiState>,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    let endpoints = endpoints(&state);
    let versions = warp::path("v1").and(endpoints.clone()).or(endpoints).unify();
    let api = warp::path("api").and(edge::api_guard(state.clone())).and(versions);
    let probes = probe_routes(state.deps.probes.clone());
    edge::header_limits(state.config.header_limits)
        .and(first_of!(health(), probes, api, hookline_dashboard::routes()))
        .recover(recover)
        .unify()
}

/// Only `/health`, `/ready` and `/metrics`: what a process without the api role serves.
pub(crate) fn probes_only(
    probes: Probes,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    first_of!(health(), probe_routes(probes)).recover(recover).unify()
}

/// Maps what no route answered to a JSON error; never fails.
async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    if let Some(Refused(error)) = rejection.find::<Refused>() {
        return Ok(error_response(error));
    }
    let error = if let Some(wrong) = rejection.find::<WrongMethod>() {
        ApiError::MethodNotAllowed { allow: wrong.allow }
    } else if rejection.is_not_found() {
        ApiError::RouteNotFound
    } else {
        ApiError::UnexpectedRejection(format!("{rejection:?}"))
    };
    Ok(into_response(Err(error)))
}
