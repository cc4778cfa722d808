//! A pure-Rust evaluator for XGBoost `gbtree` models with the `binary:logistic` objective.
//!
//! Loading is strict and does all the checking (objective, booster, feature count, tree
//! structure), so that prediction is infallible, allocation-free and cannot index out of
//! bounds. Prediction follows XGBoost's CPU predictor: `f32` inputs, `x < split` goes left,
//! a missing value (NaN) follows the node's default direction, leaf values summed in `f32`
//! onto the base margin, then XGBoost's sigmoid.

mod lockstep;
mod shap;
mod ubjson;

use serde_json::Value;

use crate::customer::{FEATURE_COUNT, FEATURE_NAMES, Features};

pub use shap::{Contributions, ShapScratch};

/// Why a model file cannot be served. Every message says what was found and what is needed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    #[error("not an XGBoost JSON or UBJSON model: {0}")]
    Format(String),
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error("invalid model: {0}")]
    Invalid(String),
}

/// One tree node, 16 bytes. Leaves have `feature == LEAF` and carry their value in `value`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    value: f32,
    feature: u32,
    /// Index of the left child in `Forest::nodes`; the right child is `right`.
    left: u32,
    right: u32,
}

const LEAF: u32 = u32::MAX;
/// High bit of `feature`: a missing value goes left.
const DEFAULT_LEFT: u32 = 1 << 31;

/// A loaded, validated tree ensemble.
#[derive(Debug, Clone)]
pub struct Forest {
    /// All trees' nodes, one tree after another; each tree's root comes first.
    nodes: Vec<Node>,
    roots: Vec<u32>,
    base_margin: f32,
    /// What explanations need, parallel to `nodes`. `None` if the file lacks usable
    /// `sum_hessian` statistics (then the model predicts but cannot explain).
    stats: Option<Stats>,
    /// Exact TreeSHAP, prepared at load. `None` when `stats` is, or the trees are too deep.
    shap: Option<shap::Plan>,
    /// The trees laid out for scoring many rows without branches, prepared at load.
    lockstep: lockstep::Lockstep,
    /// The XGBoost version that saved the model, as `major.minor.patch`.
    pub xgboost_version: String,
}

impl Forest {
    /// Loads a model saved by XGBoost as JSON or UBJSON (sniffed from the content, as XGBoost does).
    pub fn from_bytes(bytes: &[u8]) -> Result<Forest, ModelError> {
        let document = match sniff(bytes) {
            Encoding::Json => serde_json::from_slice::<Value>(bytes)
                .map_err(|e| ModelError::Format(format!("JSON: {e}")))?,
            Encoding::Ubjson => {
                ubjson::decode(bytes).map_err(|e| ModelError::Format(format!("UBJSON: {e}")))?
            }
            Encoding::Unknown(what) => return Err(ModelError::Format(what.to_owned())),
        };
        Forest::from_document(&document)
    }

    fn from_document(doc: &Value) -> Result<Forest, ModelError> {
        let learner = get(doc, "learner")?;
        let objective = get(learner, "objective").and_then(|o| str_at(o, "name"))?;
        if objective != "binary:logistic" {
            return Err(ModelError::Unsupported(format!(
                "objective {objective:?}; only \"binary:logistic\" is supported"
            )));
        }
        let booster = get(learner, "gradient_booster")?;
        let booster_name = str_at(booster, "name")?;
        if booster_name != "gbtree" {
            return Err(ModelError::Unsupported(format!(
                "booster {booster_name:?}; only \"gbtree\" is supported"
            )));
        }
        let params = get(learner, "learner_model_param")?;
        let num_feature = number_at(params, "num_feature")?;
        if num_feature != FEATURE_COUNT as f64 {
            return Err(ModelError::Unsupported(format!(
                "the model takes {num_feature} features; churn models take {FEATURE_COUNT}"
            )));
        }
        for key in ["num_class", "num_target"] {
            if let Ok(n) = number_at(params, key)
                && n > 1.0
            {
                return Err(ModelError::Unsupported(format!(
                    "{key} = {n}; only one output is supported"
                )));
            }
        }
        check_feature_names(learner)?;
        let base_score = number_at(params, "base_score")? as f32;
        if !(base_score > 0.0 && base_score < 1.0) {
            return Err(ModelError::Invalid(format!(
                "base_score {base_score} is not a probability strictly between 0 and 1"
            )));
        }
        // XGBoost's ProbToMargin for the logistic objective, computed in f32 as XGBoost does.
        let base_margin = -(1.0f32 / base_score - 1.0).ln();

        let trees = get(booster, "model")
            .and_then(|m| get(m, "trees"))?
            .as_array()
            .ok_or_else(|| ModelError::Invalid("`trees` is not an array".to_owned()))?;
        let mut forest = Forest {
            nodes: Vec::new(),
            roots: Vec::with_capacity(trees.len()),
            base_margin,
            stats: Some(Stats::default()),
            shap: None,
            lockstep: lockstep::Lockstep::default(),
            xgboost_version: version(doc),
        };
        for (i, tree) in trees.iter().enumerate() {
            forest
                .add_tree(tree)
                .map_err(|e| ModelError::Invalid(format!("tree {i}: {e}")))?;
        }
        if forest.roots.is_empty() {
            return Err(ModelError::Invalid("the model has no trees".to_owned()));
        }
        forest.shap = forest
            .stats
            .as_ref()
            .and_then(|stats| shap::Plan::new(&forest, stats));
        forest.lockstep = lockstep::Lockstep::new(&forest.nodes, &forest.roots);
        Ok(forest)
    }

    fn add_tree(&mut self, tree: &Value) -> Result<(), String> {
        let field = |key: &str| -> Result<&Vec<Value>, String> {
            tree.get(key)
                .and_then(Value::as_array)
                .ok_or_else(|| format!("missing array `{key}`"))
        };
        let lefts = field("left_children")?;
        let rights = field("right_children")?;
        let split_indices = field("split_indices")?;
        let split_conditions = field("split_conditions")?;
        let default_left = field("default_left")?;
        let n = lefts.len();
        if n == 0 {
            return Err("empty tree".to_owned());
        }
        for (key, len) in [
            ("right_children", rights.len()),
            ("split_indices", split_indices.len()),
            ("split_conditions", split_conditions.len()),
            ("default_left", default_left.len()),
        ] {
            if len != n {
                return Err(format!("`{key}` has {len} entries, `left_children` {n}"));
            }
        }
        if let Some(types) = tree.get("split_type").and_then(Value::as_array)
            && types.iter().any(|t| t.as_f64() != Some(0.0))
        {
            return Err("categorical splits are not supported".to_owned());
        }
        let offset = self.nodes.len();
        let global = |child: usize| -> Result<u32, String> {
            u32::try_from(offset + child).map_err(|_| "the model is too large".to_owned())
        };
        // A node with two parents would make the "tree" a graph whose paths double at each
        // such node: every walk that follows both children (depth, TreeSHAP, the branch-free
        // layout) would grow exponentially on a hostile file of a few dozen nodes.
        let mut has_parent = vec![false; n];
        for i in 0..n {
            let left = lefts[i].as_i64().ok_or("a child index is not an integer")?;
            let right = rights[i]
                .as_i64()
                .ok_or("a child index is not an integer")?;
            let value = split_conditions[i]
                .as_f64()
                .ok_or("a split condition is not a number")? as f32;
            if !value.is_finite() {
                return Err(format!("node {i} has a non-finite value"));
            }
            let node = if left == -1 && right == -1 {
                Node {
                    value,
                    feature: LEAF,
                    left: 0,
                    right: 0,
                }
            } else {
                // Children come after their parent (XGBoost appends them), which also
                // guarantees that every walk down a tree ends.
                let child = |c: i64| -> Result<usize, String> {
                    usize::try_from(c)
                        .ok()
                        .filter(|&c| c > i && c < n)
                        .ok_or_else(|| format!("node {i} has an invalid child {c}"))
                };
                let (left, right) = (child(left)?, child(right)?);
                for c in [left, right] {
                    if std::mem::replace(&mut has_parent[c], true) {
                        return Err(format!("node {c} has two parents"));
                    }
                }
                let feature = split_indices[i]
                    .as_u64()
                    .filter(|&f| f < FEATURE_COUNT as u64)
                    .ok_or_else(|| {
                        format!("node {i} splits on a feature outside 0..{FEATURE_COUNT}")
                    })? as u32;
                let goes_left = match &default_left[i] {
                    Value::Bool(b) => *b,
                    other => other.as_u64().ok_or("`default_left` holds a non-flag")? != 0,
                };
                Node {
                    value,
                    feature: feature | if goes_left { DEFAULT_LEFT } else { 0 },
                    left: global(left)?,
                    right: global(right)?,
                }
            };
            self.nodes.push(node);
        }
        self.roots.push(global(0)?);
        self.add_stats(tree, offset)
    }

    /// Reads the tree's covers (`sum_hessian`, which XGBoost's TreeSHAP uses as cover) and
    /// computes XGBoost's node mean values (`FillNodeMeanValues`): a leaf's value, or the
    /// children's means weighted by their covers, in `f32`. Children follow parents, so one
    /// backward pass. Covers that are missing, negative, not finite, or zero at a split leave
    /// the model unable to explain (`stats = None`); a wrong length is an invalid file.
    fn add_stats(&mut self, tree: &Value, offset: usize) -> Result<(), String> {
        let Some(stats) = &mut self.stats else {
            return Ok(());
        };
        let Some(hessians) = tree.get("sum_hessian").and_then(Value::as_array) else {
            self.stats = None;
            return Ok(());
        };
        let nodes = &self.nodes[offset..];
        if hessians.len() != nodes.len() {
            return Err(format!(
                "`sum_hessian` has {} entries, the tree {}",
                hessians.len(),
                nodes.len()
            ));
        }
        let mut covers = Vec::with_capacity(nodes.len());
        for (h, node) in hessians.iter().zip(nodes) {
            let h = h.as_f64().ok_or("a hessian sum is not a number")? as f32;
            let usable = h.is_finite() && (h > 0.0 || (h == 0.0 && node.feature == LEAF));
            if !usable {
                self.stats = None;
                return Ok(());
            }
            covers.push(h);
        }
        let mut means = vec![0.0f32; nodes.len()];
        for i in (0..nodes.len()).rev() {
            let node = nodes[i];
            means[i] = if node.feature == LEAF {
                node.value
            } else {
                let (l, r) = (node.left as usize - offset, node.right as usize - offset);
                let mut mean = means[l] * covers[l];
                mean += means[r] * covers[r];
                mean / covers[i]
            };
        }
        stats.means.extend(means);
        stats.covers.extend(covers);
        Ok(())
    }

    /// The probability of class 1 ("Will Exit"), exactly as XGBoost computes it.
    pub fn predict(&self, x: &Features) -> f32 {
        sigmoid(self.margin(x))
    }

    /// The margin (log-odds) behind [`Forest::predict`]: XGBoost's `output_margin=True`.
    pub fn margin(&self, x: &Features) -> f32 {
        self.lockstep.margin(x, self.base_margin)
    }

    /// Each row's margin, into `margins` (one per row): bit for bit [`Forest::margin`] of
    /// each row, several times faster for many different rows (see `lockstep.rs`).
    ///
    /// # Panics
    /// If `margins` and `rows` differ in length.
    pub fn margins_into(&self, rows: &[Features], margins: &mut [f32]) {
        assert_eq!(rows.len(), margins.len(), "one margin per row");
        margins.fill(self.base_margin);
        self.lockstep.add_leaves(rows, margins);
    }

    /// The index of the child that `x` goes to from a split node.
    #[inline(always)]
    fn child(&self, node: Node, x: &Features) -> usize {
        let value = x[(node.feature & !DEFAULT_LEFT) as usize];
        let go_left = if value.is_nan() {
            node.feature & DEFAULT_LEFT != 0
        } else {
            value < node.value
        };
        (if go_left { node.left } else { node.right }) as usize
    }

    /// Each feature's *approximate* contribution to the margin (log-odds) and, last, the
    /// bias: XGBoost's `pred_contribs=True, approx_contribs=True` (Saabas: the change in a
    /// node's expected value along the path is credited to the split's feature). They sum to
    /// the margin. `None` when the model file carries no usable hessian sums.
    /// Exact SHAP values are [`Forest::shap_values`].
    pub fn approx_contributions(&self, x: &Features) -> Option<Contributions> {
        let means = &self.stats.as_ref()?.means;
        let mut out = [0.0f32; FEATURE_COUNT + 1];
        for &root in &self.roots {
            let mut index = root as usize;
            let mut expected = means[index];
            out[FEATURE_COUNT] += expected;
            while self.nodes[index].feature != LEAF {
                let node = self.nodes[index];
                let feature = (node.feature & !DEFAULT_LEFT) as usize;
                index = self.child(node, x);
                let next = means[index];
                out[feature] += next - expected;
                expected = next;
            }
        }
        out[FEATURE_COUNT] += self.base_margin;
        Some(out)
    }

    /// Each feature's exact SHAP value (log-odds) and, last, the bias: XGBoost's
    /// `pred_contribs=True` (path-dependent TreeSHAP, covers from `sum_hessian`). They sum to
    /// the margin. Uses the tables prepared at load (see `shap.rs`); `scratch` is only
    /// touched for trees too large for tables, so with the bundled model it stays empty.
    /// `None` when the model file carries no usable hessian sums or its trees are deeper
    /// than 256 levels.
    pub fn shap_values(&self, x: &Features, scratch: &mut ShapScratch) -> Option<Contributions> {
        Some(self.shap.as_ref()?.tables(self, x, scratch))
    }

    /// The same values by XGBoost's own recursive algorithm, with its `f32` arithmetic
    /// operation for operation: the reference the tables are checked against, and the
    /// slower method measured beside them in `benches/explain.rs`.
    pub fn shap_values_recursive(
        &self,
        x: &Features,
        scratch: &mut ShapScratch,
    ) -> Option<Contributions> {
        Some(self.shap.as_ref()?.recursive(self, x, scratch))
    }

    /// Whether this model can explain its predictions (exactly or approximately).
    pub fn can_explain(&self) -> bool {
        self.shap.is_some()
    }

    pub fn num_trees(&self) -> usize {
        self.roots.len()
    }

    /// How many leaves the forest has.
    pub fn num_leaves(&self) -> usize {
        self.nodes.iter().filter(|n| n.feature == LEAF).count()
    }

    /// The lowest and highest margin any input can produce: the base margin plus, over the
    /// trees, the smallest (largest) leaf. Bounds, not necessarily reached (no one input may
    /// reach every tree's extreme leaf); summed in `f64`, so they hold for XGBoost's `f32` sum
    /// to within its rounding (≈ 1e-6 for 150 trees).
    pub fn margin_bounds(&self) -> (f64, f64) {
        let mut low = f64::from(self.base_margin);
        let mut high = low;
        for &root in &self.roots {
            let (mut least, mut most) = (f32::INFINITY, f32::NEG_INFINITY);
            let mut stack = vec![root as usize];
            while let Some(i) = stack.pop() {
                let node = self.nodes[i];
                if node.feature == LEAF {
                    least = least.min(node.value);
                    most = most.max(node.value);
                } else {
                    stack.push(node.left as usize);
                    stack.push(node.right as usize);
                }
            }
            low += f64::from(least);
            high += f64::from(most);
        }
        (low, high)
    }

    /// The deepest tree's depth (edges from the root to its farthest leaf).
    pub fn max_depth(&self) -> usize {
        self.roots
            .iter()
            .map(|&root| self.depth_below(root as usize))
            .max()
            .unwrap_or(0)
    }

    /// Depth of the subtree at `index`, without recursion (a hostile file may be deep).
    fn depth_below(&self, index: usize) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(index, 0usize)];
        while let Some((i, depth)) = stack.pop() {
            let node = self.nodes[i];
            if node.feature == LEAF {
                deepest = deepest.max(depth);
            } else {
                stack.push((node.left as usize, depth + 1));
                stack.push((node.right as usize, depth + 1));
            }
        }
        deepest
    }
}

/// Per-node statistics for explanations, parallel to `Forest::nodes`.
#[derive(Debug, Clone, Default)]
struct Stats {
    /// Each node's expected leaf value over the training data (cover-weighted).
    means: Vec<f32>,
    /// Each node's cover: the hessian sum of the training rows that reached it.
    covers: Vec<f32>,
}

/// XGBoost's `common::Sigmoid`, in `f32`: the probability [`Forest::predict`] gives for a
/// margin (`output_margin=True`).
pub fn sigmoid(x: f32) -> f32 {
    let denominator = (-x).min(88.7).exp() + 1.0 + 1e-16;
    1.0 / denominator
}

enum Encoding {
    Json,
    Ubjson,
    Unknown(&'static str),
}

fn sniff(bytes: &[u8]) -> Encoding {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    match (bytes.get(start), bytes.get(start + 1)) {
        (Some(b'{'), Some(b'"' | b'}' | b' ' | b'\n' | b'\r' | b'\t')) => Encoding::Json,
        (Some(b'{'), Some(_)) => Encoding::Ubjson,
        (Some(0x1f), Some(0x8b)) => Encoding::Unknown(
            "this is a gzip archive; unpack SageMaker's model.tar.gz and load its `xgboost-model` file",
        ),
        (Some(0x80), _) => Encoding::Unknown(
            "this is a Python pickle (SageMaker XGBoost ≤ 1.2); re-save it with `booster.save_model(\"model.json\")`",
        ),
        (None, _) => Encoding::Unknown("the file is empty"),
        _ => Encoding::Unknown(
            "this looks like XGBoost's legacy binary format; re-save it with `booster.save_model(\"model.json\")`",
        ),
    }
}

/// Feature names are optional in XGBoost models (SageMaker-trained ones have none), but
/// when present they must be ours, in our order, or the model would be fed the wrong inputs.
fn check_feature_names(learner: &Value) -> Result<(), ModelError> {
    let Some(names) = learner.get("feature_names").and_then(Value::as_array) else {
        return Ok(());
    };
    if names.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = names.iter().map(|n| n.as_str().unwrap_or("?")).collect();
    if names != FEATURE_NAMES {
        return Err(ModelError::Unsupported(format!(
            "feature names {names:?} differ from the churn features {FEATURE_NAMES:?}"
        )));
    }
    Ok(())
}

fn version(doc: &Value) -> String {
    doc.get("version")
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .map(|p| p.as_u64().map_or("?".to_owned(), |p| p.to_string()))
                .collect::<Vec<_>>()
                .join(".")
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn get<'a>(v: &'a Value, key: &str) -> Result<&'a Value, ModelError> {
    v.get(key)
        .ok_or_else(|| ModelError::Invalid(format!("missing `{key}`")))
}

fn str_at<'a>(v: &'a Value, key: &str) -> Result<&'a str, ModelError> {
    get(v, key)?
        .as_str()
        .ok_or_else(|| ModelError::Invalid(format!("`{key}` is not a string")))
}

/// XGBoost stores parameters as strings (`"5E-1"`, and since 3.1 `"[5E-1]"` for vector
/// parameters); older writers and UBJSON may use plain numbers.
fn number_at(v: &Value, key: &str) -> Result<f64, ModelError> {
    let bad = || ModelError::Invalid(format!("`{key}` is not a number"));
    match get(v, key)? {
        Value::Number(n) => n.as_f64().ok_or_else(bad),
        Value::String(s) => {
            let s = s.trim();
            let s = s
                .strip_prefix('[')
                .and_then(|s| s.strip_suffix(']'))
                .unwrap_or(s);
            if s.contains(',') {
                return Err(ModelError::Unsupported(format!(
                    "`{key}` has several values; one output is supported"
                )));
            }
            s.trim().parse::<f64>().map_err(|_| bad())
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(objective: &str, booster: &str, trees: Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "learner": {
                "objective": {"name": objective},
                "gradient_booster": {"name": booster, "model": {"trees": trees}},
                "learner_model_param": {"base_score": "5E-1", "num_feature": "12", "num_class": "0"},
            },
            "version": [3, 2, 0],
        }))
        .unwrap()
    }

    fn stump(split: f64, default_left: u8) -> Value {
        serde_json::json!({
            "left_children": [1, -1, -1], "right_children": [2, -1, -1],
            "split_indices": [2, 0, 0], "split_conditions": [split, -1.0, 1.0],
            "default_left": [default_left, 0, 0], "split_type": [0, 0, 0],
        })
    }

    #[test]
    fn a_stump_goes_left_below_the_split_and_follows_the_default_when_missing() {
        let forest = Forest::from_bytes(&model(
            "binary:logistic",
            "gbtree",
            serde_json::json!([stump(40.0, 1)]),
        ))
        .unwrap();
        let mut x = [0.0f32; 12];
        x[2] = 38.0;
        assert_eq!(forest.predict(&x), sigmoid(-1.0));
        x[2] = 40.0;
        assert_eq!(
            forest.predict(&x),
            sigmoid(1.0),
            "equal to the split goes right"
        );
        x[2] = f32::NAN;
        assert_eq!(
            forest.predict(&x),
            sigmoid(-1.0),
            "missing follows default_left"
        );
    }

    #[test]
    fn other_objectives_boosters_and_broken_trees_are_refused() {
        let cases = [
            model(
                "reg:squarederror",
                "gbtree",
                serde_json::json!([stump(1.0, 0)]),
            ),
            model(
                "binary:logistic",
                "dart",
                serde_json::json!([stump(1.0, 0)]),
            ),
            model("binary:logistic", "gbtree", serde_json::json!([])),
            model(
                "binary:logistic",
                "gbtree",
                serde_json::json!([{"left_children": [0]}]),
            ),
            model(
                "binary:logistic",
                "gbtree",
                serde_json::json!([{
                    "left_children": [0, -1, -1], "right_children": [2, -1, -1],
                    "split_indices": [2, 0, 0], "split_conditions": [1.0, -1.0, 1.0],
                    "default_left": [0, 0, 0],
                }]),
            ),
            model(
                "binary:logistic",
                "gbtree",
                serde_json::json!([{
                    "left_children": [1, -1, -1], "right_children": [2, -1, -1],
                    "split_indices": [12, 0, 0], "split_conditions": [1.0, -1.0, 1.0],
                    "default_left": [0, 0, 0],
                }]),
            ),
            b"".to_vec(),
            b"\x80\x04".to_vec(),
            b"binf".to_vec(),
            b"{\"learner\": 1}".to_vec(),
        ];
        for bytes in cases {
            assert!(
                Forest::from_bytes(&bytes).is_err(),
                "{}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }

    #[test]
    fn a_node_with_two_parents_is_refused_before_anything_walks_both_ways() {
        // Both children of each split are the next node: 41 nodes, 2^40 root-to-leaf paths.
        let graph = serde_json::json!([{
            "left_children": (1..=40).chain([-1]).collect::<Vec<i64>>(),
            "right_children": (1..=40).chain([-1]).collect::<Vec<i64>>(),
            "split_indices": vec![0; 41], "split_conditions": vec![1.0; 41],
            "default_left": vec![0; 41],
        }]);
        let refused = Forest::from_bytes(&model("binary:logistic", "gbtree", graph)).unwrap_err();
        assert_eq!(
            refused,
            ModelError::Invalid("tree 0: node 1 has two parents".to_owned())
        );
        // Two different splits sharing a child: 0 → (1, 2), 1 → (3, 4), 2 → (3, 5).
        let shared = serde_json::json!([{
            "left_children": [1, 3, 3, -1, -1, -1], "right_children": [2, 4, 5, -1, -1, -1],
            "split_indices": [0, 1, 2, 0, 0, 0], "split_conditions": vec![1.0; 6],
            "default_left": vec![0; 6],
        }]);
        let refused = Forest::from_bytes(&model("binary:logistic", "gbtree", shared)).unwrap_err();
        assert_eq!(
            refused,
            ModelError::Invalid("tree 0: node 3 has two parents".to_owned())
        );
    }
}
