//! The dashboard's routes as a browser meets them: content types, security and cache
//! headers, revalidation, and what is not served.

use warp::http::StatusCode;
use warp::test::request;

#[tokio::test]
async fn the_page_is_html_with_a_strict_policy() {
    let response = request().path("/").reply(&hookline_dashboard::routes()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.starts_with("default-src 'self'"), "{policy}");
    assert!(!policy.contains("unsafe"), "{policy}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-cache");
    let body = String::from_utf8(response.body().to_vec()).unwrap();
    assert!(body.contains(r#"<script type="module" src="/assets/js/main.js">"#));
}

#[tokio::test]
async fn every_file_the_page_links_is_served_with_its_type() {
    let routes = hookline_dashboard::routes();
    let page = request().path("/").reply(&routes).await;
    let page = String::from_utf8(page.body().to_vec()).unwrap();
    let links: Vec<&str> = page.split("\"/assets/").skip(1).filter_map(|rest| rest.split('"').next()).collect();
    assert!(links.len() >= 4, "{links:?}");
    for link in links {
        let response = request().path(&format!("/assets/{link}")).reply(&routes).await;
        assert_eq!(response.status(), StatusCode::OK, "{link}");
        let content_type = match link.rsplit('.').next().unwrap() {
            "css" => "text/css; charset=utf-8",
            "js" => "text/javascript; charset=utf-8",
            "svg" => "image/svg+xml",
            other => panic!("{link}: no type known for .{other}"),
        };
        assert_eq!(response.headers()["content-type"], content_type, "{link}");
        assert!(response.headers().contains_key("etag"), "{link}");
        assert!(response.headers().contains_key("content-security-policy"), "{link}");
    }
}

#[tokio::test]
async fn every_module_imported_is_served() {
    let routes = hookline_dashboard::routes();
    let main = request().path("/assets/js/main.js").reply(&routes).await;
    let mut pending = vec![String::from_utf8(main.body().to_vec()).unwrap()];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(source) = pending.pop() {
        for module in source.split("from './").skip(1).filter_map(|rest| rest.split('\'').next()) {
            if seen.insert(module.to_string()) {
                let response = request().path(&format!("/assets/js/{module}")).reply(&routes).await;
                assert_eq!(response.status(), StatusCode::OK, "module {module} is imported but not served");
                pending.push(String::from_utf8(response.body().to_vec()).unwrap());
            }
        }
    }
    assert!(seen.len() > 5, "found only {seen:?}");
}

#[tokio::test]
async fn an_unchanged_file_is_a_304() {
    let routes = hookline_dashboard::routes();
    let first = request().path("/assets/style.css").reply(&routes).await;
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let again = request().path("/assets/style.css").header("if-none-match", &etag).reply(&routes).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.body().is_empty());
    assert_eq!(again.headers()["etag"], etag.as_str());
    let other = request().path("/assets/style.css").header("if-none-match", "\"0\"").reply(&routes).await;
    assert_eq!(other.status(), StatusCode::OK);
}

#[tokio::test]
async fn other_methods_are_refused_with_allow() {
    let response = request().method("POST").path("/").reply(&hookline_dashboard::routes()).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET, HEAD");
    assert_eq!(response.body().as_ref(), br#"{"message":"Method not allowed"}"#);
}

#[tokio::test]
async fn unknown_paths_are_left_to_the_caller() {
    let routes = hookline_dashboard::routes();
    for path in ["/assets/nope.js", "/assets/", "/assets/../Cargo.toml", "/index.html", "/api/v1/subscriptions"] {
        assert!(!request().path(path).matches(&routes).await, "{path} must not be answered by the dashboard");
    }
}

#[tokio::test]
async fn every_file_under_assets_is_served() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let mut folders = vec![root.clone()];
    let routes = hookline_dashboard::routes();
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            let relative = path.strip_prefix(&root).unwrap().to_str().unwrap().to_string();
            let url = if relative == "index.html" { "/".to_string() } else { format!("/assets/{relative}") };
            let response = request().path(&url).reply(&routes).await;
            assert_eq!(response.status(), StatusCode::OK, "{relative} is not served at {url}");
            assert_eq!(response.body().as_ref(), std::fs::read(&path).unwrap().as_slice(), "{relative}");
        }
    }
}
