//! The agent API's reference for people (Settings > Agents > Agent API): the OpenAPI document
//! (`api::AgentApi`) read into what the page shows, so that the page and `/api/v1/openapi.json`
//! can never disagree. No viewer crate: those load their scripts from CDNs, which an on-premises
//! installation may not reach and the content security policy refuses.
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiReference {
    pub version: String,
    pub description: String,
    pub operations: Vec<Operation>,
    pub schemas: Vec<SchemaDoc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// `POST`, `GET`.
    pub method: String,
    pub path: String,
    pub summary: String,
    pub description: String,
    pub auth: Auth,
    /// The request body's schema, if it takes one.
    pub request: Option<String>,
    pub responses: Vec<Answer>,
}

/// What an operation needs to be called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Auth {
    None,
    /// The agent's bearer token.
    Bearer,
    /// The bearer token when the agent has one (registering a machine again).
    Optional,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub status: String,
    pub description: String,
    pub schema: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaDoc {
    pub name: String,
    pub description: String,
    pub shape: Shape,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shape {
    Object(Vec<Property>),
    /// One of these strings.
    Values(Vec<String>),
    /// One of these objects, told apart by the property `tag`.
    Variants {
        tag: String,
        variants: Vec<Variant>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Property {
    pub name: String,
    /// JSON types (`string`, `integer`, `null`, …), or empty when `reference` says it.
    pub types: Vec<String>,
    /// The schema it is, when it is one of the document's.
    pub reference: Option<String>,
    pub required: bool,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub pattern: Option<String>,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    /// The tag's value (`invalid`, `no_license_free`).
    pub name: String,
    pub description: String,
    pub properties: Vec<Property>,
}

/// The reference, for anyone who may see Settings > Agents.
#[server(endpoint = "agents/api_reference")]
pub async fn agent_api_reference() -> Result<ApiReference, AppError> {
    use crate::auth::server::{cap::BindAgents, require};
    let _who = require::<BindAgents>()?;
    Ok(read::reference(&super::api::openapi_document()))
}

#[cfg(feature = "ssr")]
pub mod read {
    //! The OpenAPI JSON read into an [`ApiReference`]. Reads the JSON rather than utoipa's
    //! structs: the JSON is the contract, and what it does not say cannot be shown.
    use serde_json::Value;

    use super::*;

    fn text(v: &Value, key: &str) -> String {
        v.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    /// `#/components/schemas/Name` → `Name`.
    fn reference_name(v: &Value) -> Option<String> {
        v.get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.rsplit('/').next())
            .map(str::to_string)
    }

    pub fn reference(doc: &Value) -> ApiReference {
        let info = &doc["info"];
        let mut operations = Vec::new();
        if let Some(paths) = doc["paths"].as_object() {
            for (path, item) in paths {
                let Some(methods) = item.as_object() else {
                    continue;
                };
                for (method, op) in methods {
                    operations.push(operation(path, method, op));
                }
            }
        }
        // As an agent meets them: register first, then checkout, heartbeat, release.
        operations.sort_by_key(|op| {
            super::super::api::ROUTE_ORDER
                .iter()
                .position(|p| *p == op.path)
                .unwrap_or(usize::MAX)
        });
        let schemas = doc["components"]["schemas"]
            .as_object()
            .map(|all| all.iter().map(|(name, s)| schema(name, s)).collect())
            .unwrap_or_default();
        ApiReference {
            version: text(info, "version"),
            description: text(info, "description"),
            operations,
            schemas,
        }
    }

    fn operation(path: &str, method: &str, op: &Value) -> Operation {
        let security = op["security"].as_array();
        let auth = match security {
            None => Auth::None,
            Some(reqs)
                if reqs
                    .iter()
                    .any(|r| r.as_object().is_some_and(|o| o.is_empty())) =>
            {
                Auth::Optional
            }
            Some(_) => Auth::Bearer,
        };
        let request = reference_name(&op["requestBody"]["content"]["application/json"]["schema"]);
        let responses = op["responses"]
            .as_object()
            .map(|all| {
                all.iter()
                    .map(|(status, r)| Answer {
                        status: status.clone(),
                        description: text(r, "description"),
                        schema: reference_name(&r["content"]["application/json"]["schema"]),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Operation {
            method: method.to_uppercase(),
            path: path.to_string(),
            summary: text(op, "summary"),
            description: text(op, "description"),
            auth,
            request,
            responses,
        }
    }

    fn schema(name: &str, s: &Value) -> SchemaDoc {
        let shape = if let Some(alternatives) = s["oneOf"].as_array() {
            variants(alternatives)
        } else if let Some(values) = s["enum"].as_array() {
            Shape::Values(
                values
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
            )
        } else {
            Shape::Object(properties(s, None))
        };
        SchemaDoc {
            name: name.to_string(),
            description: text(s, "description"),
            shape,
        }
    }

    /// A property that is required and has a single value: what tells the variants apart.
    fn tag_of(alternative: &Value) -> Option<(String, String)> {
        let required = alternative["required"].as_array()?;
        alternative["properties"]
            .as_object()?
            .iter()
            .find_map(|(k, p)| {
                let values = p["enum"].as_array()?;
                let [only] = values.as_slice() else {
                    return None;
                };
                required
                    .iter()
                    .any(|r| r == k)
                    .then(|| (k.clone(), only.as_str().unwrap_or_default().to_string()))
            })
    }

    fn variants(alternatives: &[Value]) -> Shape {
        // A plain enum whose values have their own descriptions.
        if alternatives.iter().all(|a| a.get("properties").is_none()) {
            return Shape::Values(
                alternatives
                    .iter()
                    .flat_map(|a| a["enum"].as_array().cloned().unwrap_or_default())
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
            );
        }
        let mut tag = String::new();
        let variants = alternatives
            .iter()
            .map(|a| {
                let (key, name) = tag_of(a).unwrap_or_default();
                tag = key.clone();
                Variant {
                    name,
                    description: text(a, "description"),
                    properties: properties(a, Some(&key)),
                }
            })
            .collect();
        Shape::Variants { tag, variants }
    }

    fn properties(s: &Value, except: Option<&str>) -> Vec<Property> {
        let required: Vec<&str> = s["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        s["properties"]
            .as_object()
            .map(|all| {
                all.iter()
                    .filter(|(k, _)| Some(k.as_str()) != except)
                    .map(|(k, p)| property(k, p, required.contains(&k.as_str())))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn property(name: &str, p: &Value, required: bool) -> Property {
        // `Option<T>` of a schema is `oneOf: [null, $ref]`.
        let reference = reference_name(p).or_else(|| {
            p["oneOf"]
                .as_array()
                .and_then(|alts| alts.iter().find_map(reference_name))
        });
        let mut types: Vec<String> = match &p["type"] {
            Value::String(t) => vec![t.clone()],
            Value::Array(ts) => ts
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        if reference.is_some()
            && p["oneOf"]
                .as_array()
                .is_some_and(|alts| alts.iter().any(|a| a["type"] == "null"))
        {
            types.push("null".to_string());
        }
        Property {
            name: name.to_string(),
            types,
            reference,
            required,
            min_length: p["minLength"].as_u64(),
            max_length: p["maxLength"].as_u64(),
            pattern: p["pattern"].as_str().map(str::to_string),
            description: text(p, "description"),
        }
    }
}
