//! What the `meta_data` sub-resources do to an object's metadata, in one place for
//! the flow's folders, media and analyses and for collections.

use serde_json::{Map, Value};

/// How a `meta_data` sub-resource request changes the object.
#[derive(Debug, Clone)]
pub enum MetaChange {
    /// POST: the whole object.
    Replace(Map<String, Value>),
    /// PATCH: these keys added or replaced.
    Merge(Map<String, Value>),
    /// DELETE: emptied.
    Clear,
}

impl MetaChange {
    /// Applies the change to `meta` (a non-object value counts as empty).
    pub fn apply(self, meta: &mut Value) {
        match self {
            MetaChange::Replace(m) => *meta = Value::Object(m),
            MetaChange::Merge(m) => {
                if let Value::Object(cur) = meta {
                    cur.extend(m);
                } else {
                    *meta = Value::Object(m);
                }
            }
            MetaChange::Clear => *meta = Value::Object(Map::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn replace_merge_and_clear() {
        let mut m = json!({"a": 1, "b": 2});
        MetaChange::Merge(obj(json!({"b": 3, "c": 4}))).apply(&mut m);
        assert_eq!(m, json!({"a": 1, "b": 3, "c": 4}));
        MetaChange::Replace(obj(json!({"z": 0}))).apply(&mut m);
        assert_eq!(m, json!({"z": 0}));
        MetaChange::Clear.apply(&mut m);
        assert_eq!(m, json!({}));
        let mut not_object = json!(null);
        MetaChange::Merge(obj(json!({"k": "v"}))).apply(&mut not_object);
        assert_eq!(not_object, json!({"k": "v"}));
    }
}
