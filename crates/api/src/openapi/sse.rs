//! The two Server-Sent Event streams as the control document describes them: media type
//! `text/event-stream`, whose schema is that of one event, `{event, data, id}`, each
//! `data` a JSON text (`contentMediaType`) of a component schema (`contentSchema`).
//! OpenAPI 3.1 has no word of its own for an event stream; this is how OpenAPI 3.2
//! (`itemSchema`) and schemathesis read one. utoipa's annotations cannot write
//! `contentSchema`, hence this step after generation.

use serde_json::{json, Value};

use crate::streams::HOST_EVENT_NAMES;

const EVENT_STREAM: &str = "text/event-stream";

/// Puts the event schemas into the document's two streaming operations.
pub(super) fn describe_streams(doc: &mut Value) {
    set_stream(
        doc,
        "/api/v1/services/{name}/logs",
        "With `follow=true`: the last `tail` lines, then every new one.",
        json!([
            event(
                json!({"const": "line"}),
                "LogLineView",
                Some("the line's seq")
            ),
            event(json!({"const": "missed"}), "Missed", None),
        ]),
    );
    set_stream(
        doc,
        "/api/v1/events",
        "`state` first, then each change as an event named after its type, each followed by a `state`.",
        json!([
            event(json!({"const": "state"}), "HostView", None),
            event(
                json!({"enum": HOST_EVENT_NAMES}),
                "EventEnvelope",
                Some("the event's seq"),
            ),
            event(json!({"const": "missed"}), "Missed", None),
        ]),
    );
}

/// One kind of event: its name, the schema of its JSON data, and what its id is (if it
/// has one of its own; a reader may still see the last id given, as SSE prescribes).
fn event(name: Value, data: &str, id: Option<&str>) -> Value {
    let mut required = vec!["event", "data"];
    let mut properties = json!({
        "event": name,
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": format!("#/components/schemas/{data}")},
        },
        "id": {"type": "string"},
    });
    if let Some(id) = id {
        required.push("id");
        properties["id"]["description"] = json!(id);
    }
    json!({"type": "object", "required": required, "properties": properties})
}

fn set_stream(doc: &mut Value, path: &str, description: &str, events: Value) {
    let content = doc["paths"][path]["get"]["responses"]["200"]["content"]
        .as_object_mut()
        .unwrap_or_else(|| panic!("the document has no 200 content for GET {path}"));
    content.insert(
        EVENT_STREAM.to_string(),
        json!({"schema": {"description": format!("One event. {description}"), "oneOf": events}}),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_schema<'a>(doc: &'a Value, path: &str) -> &'a Value {
        &doc["paths"][path]["get"]["responses"]["200"]["content"][EVENT_STREAM]["schema"]
    }

    #[test]
    fn both_streams_are_event_streams_of_named_json_events() {
        let doc = super::super::control_document();
        let logs = stream_schema(&doc, "/api/v1/services/{name}/logs");
        let names: Vec<&Value> = logs["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["properties"]["event"]["const"])
            .collect();
        assert_eq!(names, [&json!("line"), &json!("missed")]);
        assert_eq!(
            logs["oneOf"][0]["properties"]["data"]["contentSchema"]["$ref"],
            "#/components/schemas/LogLineView"
        );
        // The plain answer stays JSON.
        assert!(
            doc["paths"]["/api/v1/services/{name}/logs"]["get"]["responses"]["200"]["content"]
                ["application/json"]
                .is_object()
        );
        let events = stream_schema(&doc, "/api/v1/events");
        assert_eq!(events["oneOf"].as_array().unwrap().len(), 3, "{events}");
        // Every schema an event's data names is in the document.
        for stream in [logs, events] {
            for event in stream["oneOf"].as_array().unwrap() {
                let target = event["properties"]["data"]["contentSchema"]["$ref"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("#/components/schemas/");
                assert!(
                    doc["components"]["schemas"][target].is_object(),
                    "{target} is not in the document"
                );
            }
        }
    }

    #[test]
    fn the_event_names_are_the_host_events_types() {
        // The names come from the HostEvent schema's `type` tags, so a new kind of event
        // cannot go undocumented.
        let doc = super::super::control_document();
        let mut tags: Vec<String> = doc["components"]["schemas"]["HostEvent"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|variant| {
                variant["properties"]["type"]["enum"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .map(|tag| tag.as_str().unwrap().to_string())
            .collect();
        tags.sort_unstable();
        let mut names: Vec<&str> = HOST_EVENT_NAMES.to_vec();
        names.sort_unstable();
        assert_eq!(tags, names);
    }
}
