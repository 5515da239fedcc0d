//! GET /openapi.json: the document (`src/http/openapi.json`) is valid
//! OpenAPI, served byte for byte, and kept true to the service:
//!
//! - `openapi-spec-validator` (the reference validator of the python-openapi
//!   project) validates it: structure against the OpenAPI 3.1 schema, plus
//!   the semantic rules (references resolve, path parameters are declared,
//!   operation ids are unique);
//! - every route the router dispatches on is documented with its method, and
//!   every documented path answers other methods with a 405 whose `Allow`
//!   lists exactly the documented ones;
//! - the query parameters, body fields, serializer and deserializer names the
//!   service knows (it lists them in its 400s) are exactly the documented ones;
//! - every `x-examples` request of every operation is sent to the real
//!   service against the real broker and gets its documented status, and its
//!   response (content type and body) matches the schema documented for that
//!   status; successful examples' requests match the request schemas (each
//!   line of an NDJSON body its media type's `x-itemSchema`);
//! - every documentation example (`examples`) matches its schema, and the
//!   request-body examples are the `x-examples` requests.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::process::Command;
use std::sync::Arc;

use common::*;
use kafka_records::metrics::Route;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};

const DOCUMENT_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/openapi.json");

/// The methods an OpenAPI path item may hold, lower case as in the document.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The fields an `x-examples` entry may have.
const EXAMPLE_FIELDS: [&str; 9] = [
    "name", "summary", "service", "path", "query", "headers", "body", "rawBody", "status",
];

/// The placeholders `x-examples` may use (see `x-examples-fixture`).
const PLACEHOLDERS: [&str; 6] = [
    "{topic}",
    "{missingTopic}",
    "{compactedTopic}",
    "{groupId}",
    "{readGroup}",
    "{transactionId}",
];

/// Every route the router dispatches on. The match below is exhaustive on
/// purpose: a new `Route` does not compile here until it is listed, and then
/// the test fails until it is documented.
const ROUTES: [Route; 18] = [
    Route::PostRecords,
    Route::GetRecords,
    Route::DeleteRecords,
    Route::ListTopics,
    Route::GetTopic,
    Route::CreateTopic,
    Route::DeleteTopic,
    Route::ListGroups,
    Route::GetGroup,
    Route::ResetGroupOffsets,
    Route::Healthy,
    Route::Ready,
    Route::Metrics,
    Route::OpenApi,
    Route::Page,
    Route::PageSettings,
    Route::PageAsset,
    Route::Other,
];

fn served_template(route: Route) -> Option<&'static str> {
    match route {
        Route::PostRecords
        | Route::GetRecords
        | Route::DeleteRecords
        | Route::ListTopics
        | Route::GetTopic
        | Route::CreateTopic
        | Route::DeleteTopic
        | Route::ListGroups
        | Route::GetGroup
        | Route::ResetGroupOffsets
        | Route::Healthy
        | Route::Ready
        | Route::Metrics
        | Route::OpenApi
        | Route::Page
        | Route::PageSettings
        | Route::PageAsset => Some(route.template()),
        Route::Other => None,
    }
}

// --- the document ---

/// The parsed document and what the checks need from it.
struct Doc {
    json: Value,
}

/// One operation: its path template, method (lower case) and object.
struct Operation<'a> {
    path: String,
    method: String,
    op: &'a Value,
    /// Path-level and operation-level parameters, resolved.
    parameters: Vec<&'a Value>,
}

impl Operation<'_> {
    fn label(&self) -> String {
        format!("{} {}", self.method.to_uppercase(), self.path)
    }

    fn parameter(&self, location: &str, name: &str) -> Option<&Value> {
        self.parameters
            .iter()
            .copied()
            .find(|p| p["in"] == location && p["name"] == name)
    }

    fn parameter_names(&self, location: &str) -> BTreeSet<String> {
        self.parameters
            .iter()
            .filter(|p| p["in"] == location)
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    }

    fn examples(&self) -> &[Value] {
        self.op["x-examples"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

impl Doc {
    fn load() -> Doc {
        let text = std::fs::read_to_string(DOCUMENT_PATH).expect("read src/http/openapi.json");
        // serde_json keeps the last of a repeated key silently, which would
        // hide a response or example written twice.
        kafka_records::http::body::check_unique_keys(text.as_bytes())
            .unwrap_or_else(|e| panic!("src/http/openapi.json: {e}"));
        Doc {
            json: serde_json::from_str(&text).expect("src/http/openapi.json is JSON"),
        }
    }

    /// Follows `$ref`s to components.
    fn resolve<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            let pointer = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("only local references: {r}"));
            v = self
                .json
                .pointer(pointer)
                .unwrap_or_else(|| panic!("dangling reference {r}"));
        }
        v
    }

    fn operations(&self) -> Vec<Operation<'_>> {
        let mut ops = Vec::new();
        for (path, item) in self.json["paths"].as_object().expect("paths") {
            let shared: Vec<&Value> = item["parameters"]
                .as_array()
                .map(|ps| ps.iter().map(|p| self.resolve(p)).collect())
                .unwrap_or_default();
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let mut parameters = shared.clone();
                if let Some(own) = op["parameters"].as_array() {
                    parameters.extend(own.iter().map(|p| self.resolve(p)));
                }
                ops.push(Operation {
                    path: path.clone(),
                    method: method.to_string(),
                    op,
                    parameters,
                });
            }
        }
        ops
    }

    fn operation(&self, method: &str, path: &str) -> Operation<'_> {
        self.operations()
            .into_iter()
            .find(|o| o.method == method && o.path == path)
            .unwrap_or_else(|| panic!("{method} {path} is not documented"))
    }

    /// Checks `instance` against a schema of the document (JSON Schema
    /// 2020-12, as OpenAPI 3.1 uses), resolving its `#/components/...` refs.
    fn check(&self, schema: &Value, instance: &Value) -> Result<(), String> {
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.json["components"],
            "allOf": [schema],
        });
        let validator =
            jsonschema::validator_for(&root).map_err(|e| format!("bad schema {schema}: {e}"))?;
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("at '{}': {e}", e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{instance} does not match {schema}: {}",
                errors.join("; ")
            ))
        }
    }

    /// The response object an operation documents for `status`, resolved.
    fn response<'a>(&'a self, op: &Operation<'a>, status: u16) -> Option<&'a Value> {
        op.op["responses"]
            .get(status.to_string())
            .map(|r| self.resolve(r))
    }

    fn fixture(&self) -> &Value {
        &self.json["x-examples-fixture"]
    }
}

// --- 1. a real OpenAPI validator ---

#[test]
fn the_document_is_valid_openapi() {
    let out = Command::new("python3")
        .args([
            "-m",
            "openapi_spec_validator",
            "--validation-errors",
            "all",
            DOCUMENT_PATH,
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}): the OpenAPI validator is the Python package openapi-spec-validator")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named openapi_spec_validator"),
        "openapi-spec-validator is not installed: python3 -m pip install openapi-spec-validator \
         (scripts/test.sh installs the pinned version)"
    );
    let clip = |s: &str| s.chars().take(4000).collect::<String>();
    assert!(
        out.status.success() && stdout.trim_end().ends_with(": OK"),
        "openapi-spec-validator refuses src/http/openapi.json:\n{}\n{}",
        clip(&stdout),
        clip(&stderr)
    );
}

// --- 2. served as is, every route documented ---

#[tokio::test]
async fn the_service_serves_the_document_byte_for_byte() {
    let doc = Doc::load();
    assert_eq!(
        doc.json["info"]["version"],
        env!("CARGO_PKG_VERSION"),
        "info.version is the crate's version"
    );
    let svc = Service::start();
    let r = svc.send(Method::GET, "/openapi.json").await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let served = r.bytes().await.unwrap();
    let file = std::fs::read(DOCUMENT_PATH).unwrap();
    assert!(
        served.as_ref() == file.as_slice(),
        "GET /openapi.json differs from src/http/openapi.json"
    );
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_path_is_served() {
    let doc = Doc::load();
    let documented: BTreeSet<String> = doc.operations().iter().map(Operation::label).collect();
    let served: BTreeSet<String> = ROUTES
        .into_iter()
        .filter_map(served_template)
        .map(str::to_string)
        .collect();
    assert_eq!(
        documented, served,
        "the documented operations are not the routes the router serves"
    );

    // Each path answers a method it does not serve with 405, and its Allow
    // header lists exactly the documented methods.
    let svc = Service::start();
    let not_allowed = doc.resolve(&doc.json["components"]["responses"]["MethodNotAllowed"]);
    let mut methods: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for op in doc.operations() {
        methods
            .entry(op.path.clone())
            .or_default()
            .insert(op.method.to_uppercase());
    }
    // HEAD is answered wherever GET is (a common rule, not an operation).
    for documented in methods.values_mut() {
        if documented.contains("GET") {
            documented.insert("HEAD".to_string());
        }
    }
    for (path, documented) in &methods {
        let r = svc
            .send(Method::PATCH, &path.replace("{topic}", "openapi-probe"))
            .await;
        assert_eq!(r.status().as_u16(), 405, "PATCH {path}");
        let allow: BTreeSet<String> = r.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_string())
            .collect();
        assert_eq!(&allow, documented, "the Allow header of {path}");
        let body: Value = r.json().await.unwrap();
        doc.check(&not_allowed["content"]["application/json"]["schema"], &body)
            .unwrap();
    }

    // A path that is not documented is not served.
    let not_found = doc.resolve(&doc.json["components"]["responses"]["NotFound"]);
    for path in [
        "/record",
        "/records/t/extra",
        "/health",
        "/openapi",
        "/ui/a/b",
    ] {
        let (status, body) = svc.get(path).await;
        assert_eq!(status, 404, "GET {path}: {body}");
        doc.check(&not_found["content"]["application/json"]["schema"], &body)
            .unwrap();
    }
}

// --- 3. the names the service knows are the documented ones ---

/// The comma-separated list after `marker` in a 400's message (up to a
/// `;`, after which an NDJSON load says what became of it).
fn listed_after(body: &Value, marker: &str) -> BTreeSet<String> {
    let message = body["message"].as_str().unwrap_or_default();
    let (_, list) = message
        .split_once(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in {body}"));
    let list = list.split(';').next().unwrap_or_default();
    list.split(',').map(|s| s.trim().to_string()).collect()
}

fn property_names(schema: &Value) -> BTreeSet<String> {
    schema["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .cloned()
        .collect()
}

fn enum_names(schema: &Value) -> BTreeSet<String> {
    schema["enum"]
        .as_array()
        .expect("enum")
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn parameters_fields_and_serializers_are_the_ones_the_service_knows() {
    let doc = Doc::load();
    let svc = Service::start();
    let topic = unique_topic("openapi-names");

    let with_parameters = [
        (
            "get",
            "/records/{topic}",
            format!("/records/{topic}?openapiProbe=1"),
        ),
        (
            "delete",
            "/records/{topic}",
            format!("/records/{topic}?openapiProbe=1"),
        ),
        ("get", "/topics", "/topics?openapiProbe=1".to_string()),
    ];
    for (method, path, probe) in &with_parameters {
        let op = doc.operation(method, path);
        let r = svc
            .send(method.to_uppercase().parse().unwrap(), probe)
            .await;
        assert_eq!(r.status().as_u16(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            op.parameter_names("query"),
            listed_after(&body, "known parameters: "),
            "{}: documented query parameters vs the service's",
            op.label()
        );
    }
    for op in doc.operations() {
        if op.label() != "POST /records"
            && !with_parameters
                .iter()
                .any(|(method, path, _)| op.label() == format!("{} {path}", method.to_uppercase()))
        {
            assert!(
                op.parameter_names("query").is_empty(),
                "{} takes no query parameters",
                op.label()
            );
        }
    }
    // POST /records takes query parameters with an NDJSON body only.
    let post = doc.operation("post", "/records");
    let r = svc
        .request(Method::POST, "/records?openapiProbe=1")
        .header("content-type", "application/x-ndjson")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        post.parameter_names("query"),
        listed_after(&body, "known parameters: "),
        "POST /records: documented query parameters vs the service's (NDJSON)"
    );
    let r = svc
        .request(Method::POST, "/records?openapiProbe=1")
        .body("{}")
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("takes no query parameters with a JSON body"),
        "{body}"
    );

    let schemas = &doc.json["components"]["schemas"];
    let fields = [
        (
            json!({"records": [{"topic": "t"}], "openapiProbe": 1}),
            &schemas["PostRequest"],
        ),
        (
            json!({"records": [{"topic": "t", "openapiProbe": 1}]}),
            &schemas["RecordIn"],
        ),
        (
            json!({"records": [{"topic": "t", "headers": [{"key": "k", "openapiProbe": 1}]}]}),
            &schemas["Header"],
        ),
    ];
    for (probe, schema) in fields {
        let (status, body) = svc.post(probe.clone()).await;
        assert_eq!(status, 400, "{probe}: {body}");
        assert_eq!(
            property_names(schema),
            listed_after(&body, "known fields: "),
            "documented fields vs the service's, probed with {probe}"
        );
    }

    let r = svc
        .request(Method::POST, "/records")
        .header("content-type", "application/x-ndjson")
        .body(json!({"topic": "t", "openapiProbe": 1}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        property_names(&schemas["NdjsonRecord"]),
        listed_after(&body, "known fields: "),
        "documented NDJSON line fields vs the service's"
    );

    let serializers = enum_names(&schemas["Serializer"]);
    for field in ["keySerializer", "valueSerializer"] {
        let (status, body) = svc
            .post(json!({"records": [{"topic": "t", field: "openapiProbe"}]}))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            serializers,
            listed_after(&body, "known: "),
            "documented serializers vs the service's"
        );
    }
    let get = doc.operation("get", "/records/{topic}");
    for param in ["keyDeserializer", "valueDeserializer"] {
        let schema = doc.resolve(&get.parameter("query", param).unwrap()["schema"]);
        let (status, body) = svc
            .get(&format!("/records/{topic}?{param}=openapiProbe"))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            enum_names(schema),
            listed_after(&body, "known: "),
            "documented {param} names vs the service's"
        );
    }
}

// --- the documentation examples ---

#[test]
fn documentation_examples_and_defaults_match_their_schemas() {
    let doc = Doc::load();
    let mut checked = 0;
    for op in doc.operations() {
        let label = op.label();
        for (status, response) in op.op["responses"].as_object().unwrap() {
            let response = doc.resolve(response);
            for (media, content) in response["content"].as_object().into_iter().flatten() {
                for (name, example) in content["examples"].as_object().into_iter().flatten() {
                    let value = &doc.resolve(example)["value"];
                    doc.check(&content["schema"], value)
                        .unwrap_or_else(|e| panic!("{label} {status} {media} {name}: {e}"));
                    if media == "application/json" {
                        if let Some(code) = value.get("code") {
                            assert_eq!(code.to_string(), *status, "{label} {status} {name}");
                        }
                    }
                    checked += 1;
                }
            }
        }
        for p in &op.parameters {
            for (name, example) in p["examples"].as_object().into_iter().flatten() {
                doc.check(&p["schema"], &doc.resolve(example)["value"])
                    .unwrap_or_else(|e| panic!("{label} parameter {} {name}: {e}", p["name"]));
                checked += 1;
            }
            if let Some(default) = p["schema"].get("default") {
                doc.check(&p["schema"], default)
                    .unwrap_or_else(|e| panic!("{label} parameter {} default: {e}", p["name"]));
            }
        }
        // The request-body examples are the x-examples that send a JSON body
        // (not those about headers).
        let body_examples: BTreeMap<String, Value> = op.op["requestBody"]["content"]
            ["application/json"]["examples"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, e)| {
                let e = doc.resolve(e);
                (
                    name.clone(),
                    json!({"summary": e["summary"], "value": e["value"]}),
                )
            })
            .collect();
        let from_x: BTreeMap<String, Value> = op
            .examples()
            .iter()
            .filter(|e| {
                e.get("body").is_some() && e.get("query").is_none() && e.get("headers").is_none()
            })
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_string(),
                    json!({"summary": e["summary"], "value": e["body"]}),
                )
            })
            .collect();
        assert_eq!(
            body_examples, from_x,
            "{label}: requestBody examples and x-examples with a body differ"
        );
    }
    assert!(checked > 10, "only {checked} examples checked");

    // Defaults in schemas hold for their schemas.
    fn defaults<'a>(v: &'a Value, at: String, out: &mut Vec<(String, &'a Value)>) {
        match v {
            Value::Object(o) => {
                if o.contains_key("default") {
                    out.push((at.clone(), v));
                }
                for (k, child) in o {
                    defaults(child, format!("{at}/{k}"), out);
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    defaults(child, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    defaults(
        &doc.json["components"]["schemas"],
        "#/components/schemas".into(),
        &mut found,
    );
    assert!(!found.is_empty());
    for (at, schema) in found {
        doc.check(schema, &schema["default"])
            .unwrap_or_else(|e| panic!("the default at {at}: {e}"));
    }
}

#[test]
fn x_examples_are_well_formed() {
    let doc = Doc::load();
    let services = doc.fixture()["services"].as_object().expect("services");
    assert!(services.contains_key("default"), "no default service");
    doc.check(
        &json!({"$ref": "#/components/schemas/PostRequest"}),
        &substitute(&doc.fixture()["records"], &[("{topic}", "t".to_string())]),
    )
    .unwrap_or_else(|e| panic!("x-examples-fixture.records: {e}"));
    for op in doc.operations() {
        let label = op.label();
        let examples = op.examples();
        assert!(!examples.is_empty(), "{label} has no x-examples");
        assert!(
            examples
                .iter()
                .any(|e| (200..300).contains(&e["status"].as_u64().unwrap_or(0))),
            "{label} has no successful example"
        );
        let mut names = HashSet::new();
        for e in examples {
            let name = e["name"].as_str().expect("every example has a name");
            assert!(names.insert(name), "{label}: two examples named {name}");
            for key in e.as_object().unwrap().keys() {
                assert!(
                    EXAMPLE_FIELDS.contains(&key.as_str()),
                    "{label} {name}: unknown field {key}"
                );
            }
            assert!(e["summary"].is_string(), "{label} {name}: no summary");
            let status = e["status"].as_u64().expect("status") as u16;
            assert!(
                doc.response(&op, status).is_some(),
                "{label} {name}: status {status} is not among the documented responses"
            );
            if let Some(service) = e.get("service") {
                assert!(
                    services.contains_key(service.as_str().unwrap()),
                    "{label} {name}: unknown service {service}"
                );
            }
            assert_eq!(
                e.get("path")
                    .and_then(Value::as_object)
                    .map(|p| p.keys().cloned().collect::<BTreeSet<String>>())
                    .unwrap_or_default(),
                op.parameter_names("path"),
                "{label} {name}: path parameters"
            );
            assert!(
                !(e.get("body").is_some() && e.get("rawBody").is_some()),
                "{label} {name}: body or rawBody, not both"
            );
            if let Some(headers) = e.get("headers") {
                assert!(
                    headers
                        .as_object()
                        .is_some_and(|h| h.values().all(Value::is_string)),
                    "{label} {name}: headers are an object of strings"
                );
            }
        }
    }
}

// --- 2. every x-example against the real service and broker ---

/// The services examples run against, by name (`x-examples-fixture.services`).
struct Services {
    by_name: BTreeMap<String, Arc<Service>>,
}

fn placeholder_values(example: &str) -> Vec<(&'static str, String)> {
    PLACEHOLDERS
        .iter()
        .filter(|p| example.contains(*p))
        .map(|p| {
            let prefix = match *p {
                "{groupId}" | "{readGroup}" => "openapi-group",
                "{transactionId}" => "openapi-txn",
                _ => "openapi",
            };
            (*p, unique_topic(prefix))
        })
        .collect()
}

fn substitute(v: &Value, names: &[(&str, String)]) -> Value {
    let mut text = v.to_string();
    for (p, name) in names {
        text = text.replace(p, name);
    }
    serde_json::from_str(&text).unwrap()
}

fn query_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Checks a Server-Sent Events body as OpenAPI 3.1 documents one: `schema`
/// describes each event as an object of its fields (`event`, `id`, `data`),
/// and the branch of its `oneOf` for the event's name says, as
/// `contentSchema`, what the JSON in `data` holds. Comments are not events.
fn check_events(doc: &Doc, schema: &Value, text: &str) -> Result<(), String> {
    let schema = doc.resolve(schema);
    let mut seen = 0;
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut event = serde_json::Map::new();
        for line in block.lines().filter(|l| !l.starts_with(':')) {
            let (field, value) = line.split_once(": ").unwrap_or((line, ""));
            event.insert(field.to_string(), Value::String(value.to_string()));
        }
        if event.is_empty() {
            continue;
        }
        seen += 1;
        let event = Value::Object(event);
        doc.check(schema, &event)?;
        let branch = schema["oneOf"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|b| b["properties"]["event"]["const"] == event["event"])
            .ok_or_else(|| format!("no branch of the schema documents {event}"))?;
        let data: Value = serde_json::from_str(event["data"].as_str().unwrap_or_default())
            .map_err(|e| format!("the data of {event} is not JSON: {e}"))?;
        doc.check(&branch["properties"]["data"]["contentSchema"], &data)?;
    }
    if seen == 0 {
        return Err(format!("no events in {text:?}"));
    }
    Ok(())
}

/// Runs one example; says what it checked.
async fn run_example(
    doc: Arc<Doc>,
    services: Arc<Services>,
    index: (usize, usize),
) -> Result<String, String> {
    let ops = doc.operations();
    let op = &ops[index.0];
    let raw = &op.examples()[index.1];
    let name = raw["name"].as_str().unwrap();
    let label = format!("{} {name}", op.label());
    let fail = |m: String| format!("{label}: {m}");

    // Fresh names, and the topics the example needs.
    let names = placeholder_values(&raw.to_string());
    let example = substitute(raw, &names);
    let text = example.to_string();
    if let Some(left) = text
        .split('{')
        .skip(1)
        .map(|s| s.split('}').next().unwrap_or(""))
        .find(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        return Err(fail(format!("unknown placeholder {{{left}}}")));
    }
    let default = &services.by_name["default"];
    for (p, value) in &names {
        match *p {
            "{topic}" => {
                let fixture = doc.fixture();
                let partitions = fixture["topicPartitions"].as_i64().unwrap() as i32;
                create_topic(value, partitions, &[]).await;
                let records = substitute(&fixture["records"], &names);
                let (status, body) = default.post(records).await;
                if status != 200 {
                    return Err(fail(format!("writing the fixture: {status} {body}")));
                }
            }
            "{compactedTopic}" => create_topic(value, 1, &[("cleanup.policy", "compact")]).await,
            "{readGroup}" => {
                // A group with a committed offset on a topic of its own.
                let topic = unique_topic("openapi-group-topic");
                create_topic(&topic, 1, &[]).await;
                let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
                kafka_client(&bootstrap())
                    .commit_offsets(value, &topic, &[(0, 0)], deadline)
                    .await
                    .map_err(|e| fail(format!("committing for {value}: {e}")))?;
            }
            _ => {}
        }
    }

    // The request.
    let service = example["service"].as_str().unwrap_or("default");
    let svc = &services.by_name[service];
    let mut path = op.path.clone();
    for (k, v) in example["path"].as_object().into_iter().flatten() {
        let v = query_text(v);
        path = path.replace(
            &format!("{{{k}}}"),
            &utf8_percent_encode(&v, NON_ALPHANUMERIC).to_string(),
        );
    }
    if let Some(query) = example["query"].as_object() {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in query {
            q.append_pair(k, &query_text(v));
        }
        path = format!("{path}?{}", q.finish());
    }
    let url = format!("{}{path}", svc.url);
    let mut request = svc.request(op.method.to_uppercase().parse().unwrap(), &path);
    for (name, value) in example["headers"].as_object().into_iter().flatten() {
        request = request.header(name.as_str(), value.as_str().unwrap());
    }
    if let Some(body) = example.get("body") {
        request = request.body(body.to_string());
    } else if let Some(raw) = example["rawBody"].as_str() {
        request = request.body(raw.to_string());
    }
    let response = request
        .send()
        .await
        .map_err(|e| fail(format!("{url}: {e}")))?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = response.bytes().await.map_err(|e| fail(e.to_string()))?;
    let shown = String::from_utf8_lossy(&bytes)
        .chars()
        .take(600)
        .collect::<String>();

    // Its documented status, content type and schema.
    let expected = example["status"].as_u64().unwrap() as u16;
    if status != expected {
        return Err(fail(format!(
            "got {status}, documented {expected}: {shown}"
        )));
    }
    let documented = doc
        .response(op, status)
        .ok_or_else(|| fail(format!("status {status} is not documented")))?;
    match documented.get("content").and_then(Value::as_object) {
        None => {
            if !bytes.is_empty() {
                return Err(fail(format!(
                    "{status} is documented without a body, got {shown}"
                )));
            }
        }
        Some(content) => {
            let content_type = content_type.ok_or_else(|| fail("no Content-Type".to_string()))?;
            let essence = content_type.split(';').next().unwrap().trim();
            let media = content.get(essence).ok_or_else(|| {
                fail(format!(
                    "Content-Type {content_type} is not documented for {status}"
                ))
            })?;
            if essence == "text/event-stream" {
                let text = std::str::from_utf8(&bytes).map_err(|_| fail("not UTF-8".into()))?;
                check_events(&doc, &media["schema"], text)
                    .map_err(|e| fail(format!("{status} response: {e}")))?;
            } else {
                let body = if essence == "application/json" {
                    if content_type != "application/json; charset=utf-8" {
                        return Err(fail(format!("Content-Type {content_type}")));
                    }
                    serde_json::from_slice(&bytes)
                        .map_err(|e| fail(format!("not JSON ({e}): {shown}")))?
                } else {
                    Value::String(
                        String::from_utf8(bytes.to_vec())
                            .map_err(|_| fail("not UTF-8 text".to_string()))?,
                    )
                };
                doc.check(&media["schema"], &body)
                    .map_err(|e| fail(format!("{status} response: {e}")))?;
            }
        }
    }

    // A request that succeeds is one the document describes.
    if (200..300).contains(&status) {
        if let Some(body) = example.get("body") {
            let schema =
                &doc.resolve(&op.op["requestBody"])["content"]["application/json"]["schema"];
            doc.check(schema, body)
                .map_err(|e| fail(format!("the request body: {e}")))?;
        }
        let sent_type = example["headers"]
            .as_object()
            .and_then(|h| {
                h.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            })
            .and_then(|(_, v)| v.as_str());
        if let (Some(media), Some(raw)) = (sent_type, example["rawBody"].as_str()) {
            let content = &doc.resolve(&op.op["requestBody"])["content"][media];
            let item = content
                .get("x-itemSchema")
                .ok_or_else(|| fail(format!("{media} is not documented with an x-itemSchema")))?;
            for line in raw.lines().filter(|l| !l.trim().is_empty()) {
                let line: Value = serde_json::from_str(line)
                    .map_err(|e| fail(format!("a line of the request body ({e}): {line}")))?;
                doc.check(item, &line)
                    .map_err(|e| fail(format!("a line of the request body: {e}")))?;
            }
        }
        for location in ["path", "query"] {
            for (k, v) in example[location].as_object().into_iter().flatten() {
                let p = op
                    .parameter(location, k)
                    .ok_or_else(|| fail(format!("{location} parameter {k} is not documented")))?;
                doc.check(&p["schema"], v)
                    .map_err(|e| fail(format!("{location} parameter {k}: {e}")))?;
            }
        }
    }
    Ok(format!("{label} → {status}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_example_gets_its_documented_status_and_response_schema() {
    let doc = Arc::new(Doc::load());
    let mut by_name = BTreeMap::new();
    for (name, service) in doc.fixture()["services"].as_object().unwrap() {
        let args: Vec<&str> = service["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        by_name.insert(name.clone(), Arc::new(Service::start_with(&args, &[])));
    }
    let services = Arc::new(Services { by_name });

    let ops = doc.operations();
    let mut tasks = tokio::task::JoinSet::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(8));
    let mut count = 0;
    for (i, op) in ops.iter().enumerate() {
        for j in 0..op.examples().len() {
            let (doc, services, limit) = (doc.clone(), services.clone(), limit.clone());
            count += 1;
            tasks.spawn(async move {
                let _permit = limit.acquire().await.unwrap();
                run_example(doc, services, (i, j)).await
            });
        }
    }
    let mut failures = Vec::new();
    let mut passed = Vec::new();
    while let Some(result) = tasks.join_next().await {
        match result {
            Ok(Ok(line)) => passed.push(line),
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(format!("an example panicked: {e}")),
        }
    }
    passed.sort();
    for line in &passed {
        eprintln!("{line}");
    }
    assert!(
        failures.is_empty(),
        "{} of {count} examples failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(count >= 40, "only {count} examples");
}
