//! Exact path-dependent TreeSHAP: what XGBoost computes for `pred_contribs=True` without
//! `approx_contribs` (Lundberg, Erion & Lee 2018, "Consistent individualized feature
//! attribution for tree ensembles", Algorithm 2), with node covers taken from `sum_hessian`.
//!
//! Two implementations give the same values:
//!
//! - [`Plan::recursive`]: XGBoost's own algorithm (`src/predictor/treeshap.cc` in 3.2,
//!   `RegTree::TreeShap` in 1.7), ported operation for operation in `f32`, so that it
//!   reproduces XGBoost's results to the bit. It visits every leaf and extends/unwinds a path
//!   of permutation weights: O(leaves · depth²) per tree and row, divisions in the inner loop.
//! - [`Plan::tables`], the default: precomputed path weights (the idea of Fast TreeSHAP v2,
//!   Yang 2021, applied per root-to-leaf path as in GPUTreeShap). For a leaf whose path splits
//!   on the distinct features `P` (d = |P|), the SHAP value of feature `i ∈ P` is
//!
//!   `v · (o_i − z_i) · Σ_{S ⊆ P∖{i}} |S|! (d−1−|S|)! / d! · Π_{j∈S} o_j · Π_{j∈P∖S∖{i}} z_j`
//!
//!   where `v` is the leaf value, `z_j` the product of the cover ratios of the path's splits
//!   on `j`, and `o_j` is 1 if the row follows every one of them and 0 otherwise. Only the
//!   `o` bits depend on the row, so at load every leaf gets one row of 16 floats (all 12
//!   columns, one cache line) for each of its 2^d patterns, computed in `f64` through the
//!   polynomial `Π_{j≠i} (o_j t + z_j (1 − t))`, whose Bernstein coefficients integrate to
//!   those Shapley weights. Per row, each tree evaluates its splits once into a bit set;
//!   each leaf turns it into its pattern with one mask per feature and adds its row to the
//!   tree's sum with four SIMD additions. No division, no scatter, no branch per feature.
//!   Tree sums are `f32` (as XGBoost's), the total `f64`.
//!
//! Tables cost `2^d` rows of 64 bytes per leaf, so a tree gets them only if it has at most
//! 64 splits, its paths at most [`MAX_TABLE_FEATURES`] distinct features, and the forest's
//! tables stay within [`TABLE_BUDGET`]; other trees use the recursion, with the caller's
//! scratch buffer. ARCHITECTURE.md has the measurements behind this choice.

use super::{DEFAULT_LEFT, Forest, LEAF, Node, Stats};
use crate::customer::{FEATURE_COUNT, Features};

/// One value per input column, in the model's feature order, then the bias (log-odds).
pub type Contributions = [f32; FEATURE_COUNT + 1];

/// Trees whose root-to-leaf paths split on more distinct features than this are explained by
/// recursion (a leaf's table has `2^d` rows: 16 KiB at 8).
const MAX_TABLE_FEATURES: usize = 8;
/// At most this many table rows per forest (8 MiB); later trees are explained by recursion.
const TABLE_BUDGET: usize = 1 << 17;
/// Deeper trees cannot be explained: the recursion's stack and scratch grow with depth, and a
/// hostile model file must not be able to exhaust either.
const MAX_DEPTH: usize = 256;
/// Columns in a table row: the features, padded to a cache line.
const ROW: usize = 16;
const _: () = assert!(FEATURE_COUNT <= ROW);

/// A reusable buffer for explaining trees that have no tables. Grows on first use to what the
/// model needs, then never allocates again. For a model whose trees all have tables (the
/// bundled one) it stays empty.
#[derive(Debug, Clone, Default)]
pub struct ShapScratch {
    path: Vec<PathElement>,
}

impl ShapScratch {
    /// An empty buffer (no allocation until a model needs it).
    pub fn new() -> ShapScratch {
        ShapScratch::default()
    }

    fn ensure(&mut self, len: usize) -> &mut [PathElement] {
        if self.path.len() < len {
            self.path.resize(len, PathElement::default());
        }
        &mut self.path[..len]
    }
}

/// Exact TreeSHAP prepared for one forest.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    /// XGBoost's bias column: each tree's root mean, summed in tree order in `f32`, then the
    /// base margin. The same for every row.
    bias: f32,
    covers: Vec<f32>,
    /// The trees that have tables.
    trees: Vec<TableTree>,
    /// Their splits, tree by tree, in the order of their bits.
    splits: Vec<Split>,
    /// Their leaves, tree by tree.
    leaves: Vec<TableLeaf>,
    /// Each leaf's `2^d` rows of SHAP values, one per pattern of followed features.
    rows: Vec<Row>,
    /// Roots of the trees explained by recursion.
    recursive_roots: Vec<u32>,
    /// Scratch length the recursion needs for the deepest of those trees (0 if none).
    recursive_scratch: usize,
    /// Scratch length the recursion needs for the deepest of all trees.
    full_scratch: usize,
}

#[derive(Debug, Clone, Copy)]
struct TableTree {
    first_split: u32,
    splits: u32,
    first_leaf: u32,
    leaves: u32,
}

/// A split: bit k of a tree's bit set is whether the row goes left at its k-th split.
#[derive(Debug, Clone, Copy)]
struct Split {
    threshold: f32,
    feature: u8,
    default_left: bool,
}

#[derive(Debug, Clone, Copy)]
struct TableLeaf {
    /// The directions that lead here, for the splits on the path.
    want: u64,
    first_row: u32,
    /// d: how many distinct features the path splits on.
    slots: u8,
    /// For each of them, the path's splits on it.
    masks: [u64; MAX_TABLE_FEATURES],
}

/// One pattern's SHAP values for all columns (unused columns 0), one cache line.
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
struct Row([f32; ROW]);

/// XGBoost's `PathElement`: one distinct feature on the current path.
#[derive(Debug, Clone, Copy, Default)]
struct PathElement {
    /// The split feature; -1 for the root's placeholder.
    feature: i32,
    zero_fraction: f32,
    one_fraction: f32,
    pweight: f32,
}

/// What [`Plan::recursive`] needs for a tree of this depth: XGBoost's `(maxd · (maxd + 1)) / 2`
/// with `maxd = depth + 2` (each level copies its parent's path after it).
fn scratch_len(depth: usize) -> usize {
    (depth + 2) * (depth + 3) / 2
}

impl Plan {
    /// `None` if some tree is deeper than [`MAX_DEPTH`].
    pub(super) fn new(forest: &Forest, stats: &Stats) -> Option<Plan> {
        let mut bias = 0.0f32;
        for &root in &forest.roots {
            bias += stats.means[root as usize];
        }
        bias += forest.base_margin;
        let mut plan = Plan {
            bias,
            covers: stats.covers.clone(),
            trees: Vec::new(),
            splits: Vec::new(),
            leaves: Vec::new(),
            rows: Vec::new(),
            recursive_roots: Vec::new(),
            recursive_scratch: 0,
            full_scratch: 0,
        };
        for &root in &forest.roots {
            let depth = forest.depth_below(root as usize);
            if depth > MAX_DEPTH {
                return None;
            }
            plan.full_scratch = plan.full_scratch.max(scratch_len(depth));
            if depth == 0 {
                continue; // a single leaf only adds to the bias
            }
            if !plan.add_tables(forest, root as usize) {
                plan.recursive_roots.push(root);
                plan.recursive_scratch = plan.recursive_scratch.max(scratch_len(depth));
            }
        }
        Some(plan)
    }

    /// Adds tables for the tree at `root`, or returns false (and adds nothing) when it has
    /// too many splits, its paths too many distinct features, or the budget is spent.
    fn add_tables(&mut self, forest: &Forest, root: usize) -> bool {
        /// One split on a leaf's path: the node, its bit, and whether the path goes left.
        type Turn = (usize, usize, bool);
        // Splits get bits in depth-first order; every leaf keeps its path, root first.
        let mut splits = Vec::new();
        let mut paths: Vec<(f32, Vec<Turn>)> = Vec::new();
        let mut stack = vec![(root, Vec::new())];
        while let Some((index, path)) = stack.pop() {
            let node = forest.nodes[index];
            if node.feature == LEAF {
                paths.push((node.value, path));
                continue;
            }
            let bit = splits.len();
            if bit == 64 {
                return false;
            }
            splits.push(Split {
                threshold: node.value,
                feature: (node.feature & !DEFAULT_LEFT) as u8,
                default_left: node.feature & DEFAULT_LEFT != 0,
            });
            let mut right = path.clone();
            right.push((index, bit, false));
            let mut left = path;
            left.push((index, bit, true));
            stack.push((node.right as usize, right));
            stack.push((node.left as usize, left));
        }

        let mut leaves = Vec::with_capacity(paths.len());
        let mut rows = Vec::new();
        let mut values = Vec::new();
        for (value, path) in &paths {
            let mut features: Vec<u8> = Vec::new();
            let mut zero: Vec<f32> = Vec::new();
            let mut want = 0u64;
            let mut masks = [0u64; MAX_TABLE_FEATURES];
            for &(index, bit, went_left) in path {
                let node = forest.nodes[index];
                let feature = (node.feature & !DEFAULT_LEFT) as u8;
                let child = if went_left { node.left } else { node.right } as usize;
                // As XGBoost: the child's share of its parent's cover, in f32, multiplied into
                // the feature's earlier share when the path splits on it again.
                let ratio = self.covers[child] / self.covers[index];
                let slot = match features.iter().position(|&f| f == feature) {
                    Some(slot) => {
                        zero[slot] *= ratio;
                        slot
                    }
                    None if features.len() == MAX_TABLE_FEATURES => return false,
                    None => {
                        features.push(feature);
                        zero.push(ratio);
                        features.len() - 1
                    }
                };
                want |= u64::from(went_left) << bit;
                masks[slot] |= 1 << bit;
            }
            let first_row = self.rows.len() + rows.len();
            if first_row + (1 << features.len()) > TABLE_BUDGET {
                return false;
            }
            values.clear();
            leaf_table(f64::from(*value), &zero, &mut values);
            let d = features.len();
            for pattern in values.chunks_exact(d.max(1)).take(1 << d) {
                let mut row = [0.0f32; ROW];
                for (&feature, &v) in features.iter().zip(pattern) {
                    row[usize::from(feature)] = v;
                }
                rows.push(Row(row));
            }
            leaves.push(TableLeaf {
                want,
                first_row: first_row as u32,
                slots: d as u8,
                masks,
            });
        }
        self.trees.push(TableTree {
            first_split: self.splits.len() as u32,
            splits: splits.len() as u32,
            first_leaf: self.leaves.len() as u32,
            leaves: leaves.len() as u32,
        });
        self.splits.extend(splits);
        self.leaves.extend(leaves);
        self.rows.extend(rows);
        true
    }

    /// Exact SHAP values by table lookup (trees without tables by recursion).
    pub(super) fn tables(
        &self,
        forest: &Forest,
        x: &Features,
        scratch: &mut ShapScratch,
    ) -> Contributions {
        let mut total = [0.0f64; ROW];
        for tree in &self.trees {
            let splits = &self.splits[tree.first_split as usize..][..tree.splits as usize];
            let mut dirs = 0u64;
            for (bit, split) in splits.iter().enumerate() {
                let value = x[usize::from(split.feature)];
                let left = value < split.threshold || (value.is_nan() && split.default_left);
                dirs |= u64::from(left) << bit;
            }
            let mut sum = [0.0f32; ROW];
            for leaf in &self.leaves[tree.first_leaf as usize..][..tree.leaves as usize] {
                let off_path = dirs ^ leaf.want;
                let mut pattern = 0usize;
                for (slot, mask) in leaf.masks[..usize::from(leaf.slots)].iter().enumerate() {
                    pattern |= usize::from(off_path & mask == 0) << slot;
                }
                let row = &self.rows[leaf.first_row as usize + pattern].0;
                for (s, r) in sum.iter_mut().zip(row) {
                    *s += r;
                }
            }
            for (t, s) in total.iter_mut().zip(sum) {
                *t += f64::from(s);
            }
        }
        if !self.recursive_roots.is_empty() {
            let path = scratch.ensure(self.recursive_scratch);
            for &root in &self.recursive_roots {
                let tree = self.tree_recursive(forest, x, root as usize, path);
                for (t, v) in total.iter_mut().zip(tree) {
                    *t += f64::from(v);
                }
            }
        }
        let mut phi = [0.0f32; FEATURE_COUNT + 1];
        for (p, t) in phi.iter_mut().zip(total) {
            *p = t as f32;
        }
        phi[FEATURE_COUNT] = self.bias;
        phi
    }

    /// Exact SHAP values by XGBoost's recursive algorithm for every tree, with its `f32`
    /// arithmetic: per tree into a zeroed buffer, then added to the total, as XGBoost does.
    pub(super) fn recursive(
        &self,
        forest: &Forest,
        x: &Features,
        scratch: &mut ShapScratch,
    ) -> Contributions {
        let path = scratch.ensure(self.full_scratch);
        let mut phi = [0.0f32; FEATURE_COUNT + 1];
        for &root in &forest.roots {
            let tree = self.tree_recursive(forest, x, root as usize, path);
            for (total, t) in phi.iter_mut().zip(tree) {
                *total += t;
            }
        }
        phi[FEATURE_COUNT] = self.bias;
        phi
    }

    /// One tree's SHAP values (bias column 0) by XGBoost's recursion.
    fn tree_recursive(
        &self,
        forest: &Forest,
        x: &Features,
        root: usize,
        path: &mut [PathElement],
    ) -> Contributions {
        let mut tree = [0.0f32; FEATURE_COUNT + 1];
        if forest.nodes[root].feature != LEAF {
            let walk = Walk {
                forest,
                covers: &self.covers,
                x,
            };
            walk.tree_shap(&mut tree, root, 0, path, 0, 1.0, 1.0, -1);
        }
        tree
    }
}

/// Appends a leaf's table: for each pattern `met` of followed features (bit j = slot j), the
/// SHAP value of each slot, computed in `f64` and rounded once.
fn leaf_table(value: f64, zero: &[f32], out: &mut Vec<f32>) {
    let d = zero.len();
    // Shapley weights |S|! (d-1-|S|)! / d! for |S| = 0..d-1.
    let mut shapley = [0.0f64; MAX_TABLE_FEATURES];
    for (k, w) in shapley.iter_mut().enumerate().take(d) {
        *w = factorial(k) * factorial(d - 1 - k) / factorial(d);
    }
    for met in 0..1usize << d {
        for i in 0..d {
            // Coefficients of Π_{j≠i} (o_j t + z_j (1 − t)) in the basis t^k (1 − t)^(m − k):
            // c_k sums, over the subsets S of k other features, Π_S o_j · Π_rest z_j.
            let mut c = [0.0f64; MAX_TABLE_FEATURES];
            c[0] = 1.0;
            let mut m = 0;
            for (j, &z) in zero.iter().enumerate() {
                if j == i {
                    continue;
                }
                let o = ((met >> j) & 1) as f64;
                let z = f64::from(z);
                for k in (0..=m + 1).rev() {
                    let from_o = if k > 0 { c[k - 1] * o } else { 0.0 };
                    c[k] = c[k] * z + from_o;
                }
                m += 1;
            }
            let sum: f64 = c[..d].iter().zip(&shapley[..d]).map(|(c, w)| c * w).sum();
            let o_i = ((met >> i) & 1) as f64;
            out.push((value * (o_i - f64::from(zero[i])) * sum) as f32);
        }
    }
}

fn factorial(n: usize) -> f64 {
    (1..=n).map(|k| k as f64).product()
}

/// One row's walk through one tree by XGBoost's recursive TreeSHAP.
struct Walk<'a> {
    forest: &'a Forest,
    covers: &'a [f32],
    x: &'a Features,
}

impl Walk<'_> {
    /// XGBoost's `TreeShap` with `condition = 0`. `path[start..]` holds the parent's path;
    /// this node's copy goes right after it. The arithmetic follows the C++ expression by
    /// expression (left to right, integers widened to `f32` where C++ converts them).
    #[allow(clippy::too_many_arguments)]
    fn tree_shap(
        &self,
        phi: &mut Contributions,
        index: usize,
        mut depth: usize,
        path: &mut [PathElement],
        parent_start: usize,
        parent_zero_fraction: f32,
        parent_one_fraction: f32,
        parent_feature: i32,
    ) {
        let start = parent_start + depth + 1;
        path.copy_within(parent_start..parent_start + depth + 1, start);
        let unique = &mut path[start..];
        extend_path(
            unique,
            depth,
            parent_zero_fraction,
            parent_one_fraction,
            parent_feature,
        );
        let node: Node = self.forest.nodes[index];
        if node.feature == LEAF {
            for i in 1..=depth {
                let w = unwound_path_sum(unique, depth, i);
                let el = unique[i];
                phi[el.feature as usize] += w * (el.one_fraction - el.zero_fraction) * node.value;
            }
            return;
        }
        let split = (node.feature & !DEFAULT_LEFT) as usize;
        let hot = self.forest.child(node, self.x);
        let cold = if hot == node.left as usize {
            node.right as usize
        } else {
            node.left as usize
        };
        let w = self.covers[index];
        let hot_zero_fraction = self.covers[hot] / w;
        let cold_zero_fraction = self.covers[cold] / w;
        let mut incoming_zero_fraction = 1.0f32;
        let mut incoming_one_fraction = 1.0f32;
        // A feature already on the path is unwound, to be extended again below.
        if let Some(path_index) = unique[..=depth]
            .iter()
            .position(|el| el.feature == split as i32)
        {
            incoming_zero_fraction = unique[path_index].zero_fraction;
            incoming_one_fraction = unique[path_index].one_fraction;
            unwind_path(unique, depth, path_index);
            depth -= 1;
        }
        self.tree_shap(
            phi,
            hot,
            depth + 1,
            path,
            start,
            hot_zero_fraction * incoming_zero_fraction,
            incoming_one_fraction,
            split as i32,
        );
        self.tree_shap(
            phi,
            cold,
            depth + 1,
            path,
            start,
            cold_zero_fraction * incoming_zero_fraction,
            0.0,
            split as i32,
        );
    }
}

/// XGBoost's `ExtendPath`.
fn extend_path(path: &mut [PathElement], depth: usize, zero: f32, one: f32, feature: i32) {
    path[depth] = PathElement {
        feature,
        zero_fraction: zero,
        one_fraction: one,
        pweight: if depth == 0 { 1.0 } else { 0.0 },
    };
    let scale = (depth + 1) as f32;
    for i in (0..depth).rev() {
        path[i + 1].pweight += one * path[i].pweight * (i + 1) as f32 / scale;
        path[i].pweight = zero * path[i].pweight * (depth - i) as f32 / scale;
    }
}

/// XGBoost's `UnwindPath`.
fn unwind_path(path: &mut [PathElement], depth: usize, path_index: usize) {
    let one = path[path_index].one_fraction;
    let zero = path[path_index].zero_fraction;
    let mut next_one_portion = path[depth].pweight;
    let scale = (depth + 1) as f32;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = path[i].pweight;
            path[i].pweight = next_one_portion * scale / ((i + 1) as f32 * one);
            next_one_portion = tmp - path[i].pweight * zero * (depth - i) as f32 / scale;
        } else {
            path[i].pweight = (path[i].pweight * scale) / (zero * (depth - i) as f32);
        }
    }
    for i in path_index..depth {
        path[i].feature = path[i + 1].feature;
        path[i].zero_fraction = path[i + 1].zero_fraction;
        path[i].one_fraction = path[i + 1].one_fraction;
    }
}

/// XGBoost's `UnwoundPathSum`: the total permutation weight if `path_index` were unwound.
fn unwound_path_sum(path: &[PathElement], depth: usize, path_index: usize) -> f32 {
    let one = path[path_index].one_fraction;
    let zero = path[path_index].zero_fraction;
    let mut next_one_portion = path[depth].pweight;
    let mut total = 0.0f32;
    let scale = (depth + 1) as f32;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = next_one_portion * scale / ((i + 1) as f32 * one);
            total += tmp;
            next_one_portion = path[i].pweight - tmp * zero * ((depth - i) as f32 / scale);
        } else if zero != 0.0 {
            total += (path[i].pweight / zero) / ((depth - i) as f32 / scale);
        }
        // else both fractions are 0 and so is this weight: nothing to add.
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact Shapley values of the path-dependent value function by brute force over all
    /// subsets of the 12 features, for one tree given as a forest of one.
    fn brute_force(forest: &Forest, x: &Features) -> [f64; FEATURE_COUNT] {
        let stats = forest.stats.as_ref().unwrap();
        // E[f(x) | x_S] with path-dependent expectations: follow x on S, split by cover elsewhere.
        let value = |set: u32| -> f64 {
            let mut stack = vec![(forest.roots[0] as usize, 1.0f64)];
            let mut total = 0.0;
            while let Some((i, weight)) = stack.pop() {
                let node = forest.nodes[i];
                if node.feature == LEAF {
                    total += weight * f64::from(node.value);
                    continue;
                }
                let feature = (node.feature & !DEFAULT_LEFT) as usize;
                if set & (1 << feature) != 0 {
                    stack.push((forest.child(node, x), weight));
                } else {
                    let cover = f64::from(stats.covers[i]);
                    for child in [node.left as usize, node.right as usize] {
                        stack.push((child, weight * f64::from(stats.covers[child]) / cover));
                    }
                }
            }
            total
        };
        let n = FEATURE_COUNT;
        let mut phi = [0.0; FEATURE_COUNT];
        for set in 0u32..1 << n {
            let size = set.count_ones() as usize;
            let base = value(set);
            for (i, p) in phi.iter_mut().enumerate() {
                if set & (1 << i) == 0 {
                    let w = factorial(size) * factorial(n - size - 1) / factorial(n);
                    *p += w * (value(set | (1 << i)) - base);
                }
            }
        }
        phi
    }

    /// A depth-4 tree that splits twice on feature 2 on some paths, with uneven covers.
    fn tree() -> Forest {
        let model = serde_json::json!({
            "learner": {
                "objective": {"name": "binary:logistic"},
                "gradient_booster": {"name": "gbtree", "model": {"trees": [{
                    "left_children":    [1, 3, 5, 7, 9, -1, -1, -1, -1, 11, -1, -1, -1],
                    "right_children":   [2, 4, 6, 8, 10, -1, -1, -1, -1, 12, -1, -1, -1],
                    "split_indices":    [2, 4, 2, 2, 0, 0, 0, 0, 0, 7, 0, 0, 0],
                    "split_conditions": [40.0, 1000.0, 60.0, 30.0, 600.0, 0.3, -0.2, 0.5,
                                         -0.1, 0.5, 0.25, -0.4, 0.15],
                    "default_left":     [1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
                    "sum_hessian":      [100.0, 55.0, 45.0, 30.0, 25.0, 20.0, 25.0, 12.0,
                                         18.0, 15.0, 10.0, 6.0, 9.0],
                    "split_type": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                }]}},
                "learner_model_param": {"base_score": "5E-1", "num_feature": "12"},
            },
            "version": [3, 2, 0],
        });
        Forest::from_bytes(&serde_json::to_vec(&model).unwrap()).unwrap()
    }

    #[test]
    fn tables_and_recursion_equal_brute_force_shapley_values() {
        let forest = tree();
        let plan = forest.shap.as_ref().unwrap();
        assert!(plan.recursive_roots.is_empty(), "the tree has tables");
        assert_eq!(plan.trees.len(), 1);
        let mut scratch = ShapScratch::new();
        for x in [
            [
                650.0, 1.0, 35.0, 0.0, 500.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0,
            ],
            [
                550.0, 0.0, 25.0, 0.0, 2000.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0,
            ],
            [
                700.0, 0.0, 50.0, 0.0, 2000.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0,
            ],
            [
                f32::NAN,
                0.0,
                f32::NAN,
                0.0,
                f32::NAN,
                1.0,
                1.0,
                f32::NAN,
                0.0,
                1.0,
                0.0,
                0.0,
            ],
        ] {
            let expected = brute_force(&forest, &x);
            let fast = plan.tables(&forest, &x, &mut scratch);
            let slow = plan.recursive(&forest, &x, &mut scratch);
            for i in 0..FEATURE_COUNT {
                assert!((f64::from(fast[i]) - expected[i]).abs() < 1e-6, "{x:?} {i}");
                assert!((f64::from(slow[i]) - expected[i]).abs() < 1e-6, "{x:?} {i}");
            }
            // Local accuracy: the values and the bias add up to the margin.
            let sum: f32 = fast.iter().sum();
            assert!((sum - forest.margin(&x)).abs() < 1e-6, "{x:?}");
        }
    }

    #[test]
    fn trees_beyond_the_table_limit_fall_back_to_recursion_with_the_same_values() {
        let forest = tree();
        let stats = forest.stats.as_ref().unwrap();
        let mut plan = Plan::new(&forest, stats).unwrap();
        // Pretend the tables did not fit.
        plan.trees.clear();
        plan.splits.clear();
        plan.leaves.clear();
        plan.rows.clear();
        plan.recursive_roots = forest.roots.clone();
        plan.recursive_scratch = plan.full_scratch;
        let x = [
            650.0, 1.0, 35.0, 0.0, 500.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0,
        ];
        let mut scratch = ShapScratch::new();
        let fallback = plan.tables(&forest, &x, &mut scratch);
        let reference = plan.recursive(&forest, &x, &mut scratch);
        assert_eq!(fallback, reference);
    }
}
