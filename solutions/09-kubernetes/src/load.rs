//! Reading the manifests: every `*.yaml` file of a folder, each document in
//! it typed with k8s-openapi, and the `Kustomization` file that lists them.

use std::fmt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use serde_json::Value;

/// Something wrong in the manifests, said so that a person can find it and fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file, as `k8s/posts.yaml`.
    pub file: String,
    /// The object in it, as `Service posts-srv` (or `document 2` before it has a name).
    pub object: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.object, self.message)
    }
}

/// The kinds of object the blog's manifests use, typed by k8s-openapi.
#[derive(Clone, Debug)]
pub enum Resource {
    Deployment(Box<Deployment>),
    /// Only in chapter 10's overlay (k8s/nats/): the NATS nodes and query's replicas.
    StatefulSet(Box<StatefulSet>),
    Service(Box<Service>),
    Ingress(Box<Ingress>),
    Claim(Box<PersistentVolumeClaim>),
    NetworkPolicy(Box<NetworkPolicy>),
}

/// One document of one file.
#[derive(Clone, Debug)]
pub struct Object {
    /// The file it is in, as shown in problems.
    pub file: String,
    pub name: String,
    pub resource: Resource,
}

impl Object {
    pub fn kind(&self) -> &'static str {
        match self.resource {
            Resource::Deployment(_) => "Deployment",
            Resource::StatefulSet(_) => "StatefulSet",
            Resource::Service(_) => "Service",
            Resource::Ingress(_) => "Ingress",
            Resource::Claim(_) => "PersistentVolumeClaim",
            Resource::NetworkPolicy(_) => "NetworkPolicy",
        }
    }

    /// `Service posts-srv`
    pub fn describe(&self) -> String {
        format!("{} {}", self.kind(), self.name)
    }

    pub fn problem(&self, message: impl Into<String>) -> Problem {
        Problem {
            file: self.file.clone(),
            object: self.describe(),
            message: message.into(),
        }
    }
}

/// The `apiVersion` each kind must have: the current, stable one.
const API_VERSIONS: [(&str, &str); 6] = [
    ("Deployment", "apps/v1"),
    ("StatefulSet", "apps/v1"),
    ("Service", "v1"),
    ("Ingress", "networking.k8s.io/v1"),
    ("PersistentVolumeClaim", "v1"),
    ("NetworkPolicy", "networking.k8s.io/v1"),
];

/// The file `kubectl apply -k` reads. Without an extension, so that
/// `kubectl apply -f` (which reads only `.yaml`, `.yml` and `.json` files
/// of a folder) skips it instead of failing on a kind the cluster does not know.
pub const KUSTOMIZATION: &str = "Kustomization";

/// Every object of a folder of manifests.
#[derive(Clone, Debug, Default)]
pub struct Manifests {
    /// The folder, as shown in problems (`k8s`).
    pub folder: String,
    /// The names of its `*.yaml` and `*.yml` files, sorted.
    pub files: Vec<String>,
    /// The `resources:` listed by its Kustomization file, if it has one.
    pub kustomization: Option<Vec<String>>,
    pub objects: Vec<Object>,
}

impl Manifests {
    /// Reads every manifest of `dir`; the problems say which file and document failed.
    pub fn load(dir: &Path) -> Result<Manifests, Vec<Problem>> {
        let folder = shown(dir);
        let entries = std::fs::read_dir(dir).map_err(|error| {
            vec![Problem {
                file: folder.clone(),
                object: "folder".into(),
                message: format!("cannot read it: {error}"),
            }]
        })?;
        let mut files = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_manifest = name.ends_with(".yaml") || name.ends_with(".yml");
            if is_manifest || name == KUSTOMIZATION || name.starts_with("kustomization.") {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                files.push((name, text));
            }
        }
        let borrowed: Vec<(&str, &str)> = files
            .iter()
            .map(|(name, text)| (name.as_str(), text.as_str()))
            .collect();
        Manifests::parse(&folder, &borrowed)
    }

    /// Parses files given as `(name, text)`; `folder` is only for the messages.
    pub fn parse(folder: &str, files: &[(&str, &str)]) -> Result<Manifests, Vec<Problem>> {
        let mut manifests = Manifests {
            folder: folder.to_string(),
            ..Manifests::default()
        };
        let mut problems = Vec::new();
        let mut sorted = files.to_vec();
        sorted.sort();
        for (name, text) in sorted {
            let file = format!("{folder}/{name}");
            if name.starts_with("kustomization.") {
                problems.push(Problem {
                    file,
                    object: "Kustomization".into(),
                    message: format!(
                        "`kubectl apply -f {folder}/` would read this file as a manifest and fail \
                         (the cluster has no kind Kustomization); name it `{KUSTOMIZATION}`, \
                         without an extension: `kubectl apply -k` finds it under that name too"
                    ),
                });
                continue;
            }
            if name == KUSTOMIZATION {
                match read_kustomization(text) {
                    Ok(resources) => manifests.kustomization = Some(resources),
                    Err(message) => problems.push(Problem {
                        file,
                        object: "Kustomization".into(),
                        message,
                    }),
                }
                continue;
            }
            manifests.files.push(name.to_string());
            match serde_saphyr::from_multiple::<Value>(text) {
                Ok(documents) => {
                    for (index, document) in documents.into_iter().enumerate() {
                        match object(&file, index + 1, document) {
                            Ok(Some(object)) => manifests.objects.push(object),
                            Ok(None) => {}
                            Err(problem) => problems.push(problem),
                        }
                    }
                }
                Err(error) => problems.push(Problem {
                    file,
                    object: "YAML".into(),
                    message: format!("is not valid YAML: {error}"),
                }),
            }
        }
        problems.extend(duplicates(&manifests.objects));
        if problems.is_empty() {
            Ok(manifests)
        } else {
            Err(problems)
        }
    }

    pub fn deployments(&self) -> impl Iterator<Item = (&Object, &Deployment)> {
        self.objects.iter().filter_map(|o| match &o.resource {
            Resource::Deployment(d) => Some((o, d.as_ref())),
            _ => None,
        })
    }

    pub fn stateful_sets(&self) -> impl Iterator<Item = (&Object, &StatefulSet)> {
        self.objects.iter().filter_map(|o| match &o.resource {
            Resource::StatefulSet(s) => Some((o, s.as_ref())),
            _ => None,
        })
    }

    pub fn services(&self) -> impl Iterator<Item = (&Object, &Service)> {
        self.objects.iter().filter_map(|o| match &o.resource {
            Resource::Service(s) => Some((o, s.as_ref())),
            _ => None,
        })
    }

    pub fn ingresses(&self) -> impl Iterator<Item = (&Object, &Ingress)> {
        self.objects.iter().filter_map(|o| match &o.resource {
            Resource::Ingress(i) => Some((o, i.as_ref())),
            _ => None,
        })
    }

    pub fn claims(&self) -> impl Iterator<Item = (&Object, &PersistentVolumeClaim)> {
        self.objects.iter().filter_map(|o| match &o.resource {
            Resource::Claim(c) => Some((o, c.as_ref())),
            _ => None,
        })
    }

    pub fn network_policies(&self) -> impl Iterator<Item = (&Object, &NetworkPolicy)> {
        self.objects.iter().filter_map(|o| match &o.resource {
            Resource::NetworkPolicy(p) => Some((o, p.as_ref())),
            _ => None,
        })
    }

    /// The Service called `name`.
    pub fn service(&self, name: &str) -> Option<(&Object, &Service)> {
        self.services().find(|(o, _)| o.name == name)
    }

    /// A problem about the folder as a whole.
    pub fn problem(&self, object: &str, message: impl Into<String>) -> Problem {
        Problem {
            file: self.folder.clone(),
            object: object.to_string(),
            message: message.into(),
        }
    }
}

/// `kubectl apply -k` applies what the Kustomization lists and `kubectl apply -f`
/// applies every `*.yaml` file: both must be the same set of files.
pub fn kustomization(manifests: &Manifests) -> Vec<Problem> {
    let Some(listed) = &manifests.kustomization else {
        return vec![manifests.problem(
            KUSTOMIZATION,
            format!(
                "there is no {KUSTOMIZATION} file, so `kubectl apply -k {}/` cannot work",
                manifests.folder
            ),
        )];
    };
    let mut problems = Vec::new();
    for file in &manifests.files {
        if !listed.contains(file) {
            problems.push(manifests.problem(
                KUSTOMIZATION,
                format!("does not list {file}, so `kubectl apply -k` would leave it out (`-f` would not)"),
            ));
        }
    }
    for file in listed {
        if !manifests.files.contains(file) {
            problems.push(manifests.problem(
                KUSTOMIZATION,
                format!(
                    "lists {file}, which is not a *.yaml file of {}",
                    manifests.folder
                ),
            ));
        }
    }
    problems
}

/// Types one document; `Ok(None)` for an empty one (a stray `---`).
fn object(file: &str, number: usize, document: Value) -> Result<Option<Object>, Problem> {
    let at = |object: String, message: String| Problem {
        file: file.to_string(),
        object,
        message,
    };
    if document.is_null() {
        return Ok(None);
    }
    let Some(fields) = document.as_object() else {
        return Err(at(
            format!("document {number}"),
            "is not a mapping of fields (a Kubernetes object starts with `apiVersion:` and `kind:`)".into(),
        ));
    };
    let text = |key: &str| fields.get(key).and_then(Value::as_str).unwrap_or("");
    let kind = text("kind").to_string();
    let api_version = text("apiVersion").to_string();
    let name = document["metadata"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let label = if name.is_empty() {
        format!("document {number}")
    } else {
        format!("{kind} {name}")
    };
    let Some((_, wanted)) = API_VERSIONS.iter().find(|(k, _)| *k == kind) else {
        let known: Vec<&str> = API_VERSIONS.iter().map(|(k, _)| *k).collect();
        return Err(at(
            label,
            format!(
                "kind {kind:?} is not one these checks know ({}); is `kind:` missing or misspelt?",
                known.join(", ")
            ),
        ));
    };
    if api_version != *wanted {
        return Err(at(
            label,
            format!("apiVersion is {api_version:?}; the current one for a {kind} is {wanted:?}"),
        ));
    }
    if name.is_empty() {
        return Err(at(label, "has no metadata.name".into()));
    }
    let typed = |error: serde_json::Error| {
        at(
            label.clone(),
            format!("does not fit the {kind} schema: {error}"),
        )
    };
    let resource = match kind.as_str() {
        "Deployment" => {
            Resource::Deployment(Box::new(serde_json::from_value(document).map_err(typed)?))
        }
        "StatefulSet" => {
            Resource::StatefulSet(Box::new(serde_json::from_value(document).map_err(typed)?))
        }
        "Service" => Resource::Service(Box::new(serde_json::from_value(document).map_err(typed)?)),
        "Ingress" => Resource::Ingress(Box::new(serde_json::from_value(document).map_err(typed)?)),
        "NetworkPolicy" => {
            Resource::NetworkPolicy(Box::new(serde_json::from_value(document).map_err(typed)?))
        }
        _ => Resource::Claim(Box::new(serde_json::from_value(document).map_err(typed)?)),
    };
    Ok(Some(Object {
        file: file.to_string(),
        name,
        resource,
    }))
}

fn read_kustomization(text: &str) -> Result<Vec<String>, String> {
    let value: Value =
        serde_saphyr::from_str(text).map_err(|error| format!("is not valid YAML: {error}"))?;
    if value["kind"] != "Kustomization" {
        return Err("must say `kind: Kustomization`".into());
    }
    let Some(resources) = value["resources"].as_array() else {
        return Err("has no `resources:` list".into());
    };
    resources
        .iter()
        .map(|r| {
            r.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("`resources:` holds {r}, which is not a file name"))
        })
        .collect()
}

/// Two objects of the same kind and name: the second would replace the first.
fn duplicates(objects: &[Object]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (index, object) in objects.iter().enumerate() {
        if let Some(first) = objects[..index]
            .iter()
            .find(|o| o.kind() == object.kind() && o.name == object.name)
        {
            problems.push(object.problem(format!(
                "has the same kind and name as the one in {}: applying both keeps only the last",
                first.file
            )));
        }
    }
    problems
}

/// `dir` as a person would type it from the repository's root
/// (`k8s`, `exercises/09-kubernetes/k8s`), or as given if that is not found.
fn shown(dir: &Path) -> String {
    let Ok(full) = dir.canonicalize() else {
        return dir.display().to_string();
    };
    let root: Option<PathBuf> = full
        .ancestors()
        .find(|a| a.join("Cargo.lock").is_file())
        .map(Path::to_path_buf);
    match root.and_then(|root| full.strip_prefix(&root).ok().map(Path::to_path_buf)) {
        Some(relative) if !relative.as_os_str().is_empty() => relative.display().to_string(),
        _ => full.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_several_documents_and_names_each_object() {
        let text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: b\n";
        let manifests = Manifests::parse("k8s", &[("a.yaml", text)]).unwrap();
        let names: Vec<String> = manifests.objects.iter().map(Object::describe).collect();
        assert_eq!(names, ["Service a", "PersistentVolumeClaim b"]);
        assert_eq!(manifests.objects[0].file, "k8s/a.yaml");
    }

    #[test]
    fn an_old_api_version_an_unknown_kind_and_bad_yaml_are_reported_by_file() {
        let old = "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: in\n";
        let odd = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n";
        let broken = "apiVersion: v1\nkind: [Service\n";
        let problems = Manifests::parse(
            "k8s",
            &[
                ("old.yaml", old),
                ("odd.yaml", odd),
                ("broken.yaml", broken),
            ],
        )
        .unwrap_err();
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 3, "{shown:#?}");
        assert!(
            shown[0].starts_with("k8s/broken.yaml: YAML: is not valid YAML"),
            "{shown:#?}"
        );
        assert!(
            shown[1].starts_with("k8s/odd.yaml: Pod p: kind \"Pod\""),
            "{shown:#?}"
        );
        assert!(
            shown[2].contains("k8s/old.yaml: Ingress in: apiVersion is \"extensions/v1beta1\""),
            "{shown:#?}"
        );
    }

    #[test]
    fn a_field_of_the_wrong_type_is_a_schema_problem() {
        let text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports: 4000\n";
        let problems = Manifests::parse("k8s", &[("s.yaml", text)]).unwrap_err();
        assert!(
            problems[0]
                .message
                .contains("does not fit the Service schema"),
            "{problems:?}"
        );
    }

    #[test]
    fn the_kustomization_is_read_and_a_yaml_named_one_is_refused() {
        let kustomization = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - a.yaml\n";
        let manifests = Manifests::parse("k8s", &[(KUSTOMIZATION, kustomization)]).unwrap();
        assert_eq!(manifests.kustomization, Some(vec!["a.yaml".to_string()]));
        assert!(
            manifests.files.is_empty(),
            "the Kustomization is not a manifest"
        );
        let problems =
            Manifests::parse("k8s", &[("kustomization.yaml", kustomization)]).unwrap_err();
        assert!(
            problems[0].message.contains("kubectl apply -f k8s/"),
            "{problems:?}"
        );
    }

    #[test]
    fn the_same_kind_and_name_twice_is_reported() {
        let service = "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n";
        let problems =
            Manifests::parse("k8s", &[("a.yaml", service), ("b.yaml", service)]).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].to_string().starts_with(
            "k8s/b.yaml: Service s: has the same kind and name as the one in k8s/a.yaml"
        ));
    }
}
