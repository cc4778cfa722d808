//! Prediction: every tree walked without branches, several walks side by side.
//!
//! Walking a tree by jumping on each split's outcome is a branch on the row's data. Different
//! customers take different paths, the CPU mispredicts about half of those branches, and a
//! mispredict costs more than the split. Here each walk takes a fixed number of steps (the
//! tree's depth; for trees walked side by side, the deepest one's) and the child is picked
//! with arithmetic, not a jump:
//! - a split's two children are stored side by side, so the child is `left + (x ≥ split)`;
//! - a leaf is a step to itself, so a walk that reaches its leaf early stays there;
//! - a missing value (NaN) is replaced, before the walk, by −∞ where the split sends missing
//!   values left and by +∞ where it sends them right: each row is widened into both versions
//!   once, and a split reads the version its default direction needs.
//!
//! Independent walks go side by side so that their chains of loads overlap: [`TREES`] trees
//! for one row ([`Lockstep::margin`]), [`ROWS`] rows down each tree for many
//! ([`Lockstep::add_leaves`]). Leaves are still added to a row's margin in tree order, so the
//! `f32` sums are bit for bit XGBoost's.
//!
//! The price: every walk takes the deepest path: its tree's for a batch, and for one customer
//! the deepest of its group of [`TREES`] trees. Depth-wise trees (XGBoost's default growth,
//! and the bundled model's: depth ≤ 4) are nearly balanced; a model of long, lopsided trees
//! (loss-guided growth without a depth limit) would pay its longest path for every customer.
//! The bundled model's 73 single-leaf trees sit among its 77 splitting ones, so nearly every
//! group of 8 holds a tree 4 deep: one customer walks 425 steps where its paths sum to 267.
//! Grouping only the splitting trees would save those steps (one customer is ~5 % of a
//! request's CPU; see docs/performance.md) at the cost of a second layout.

use super::{DEFAULT_LEFT, LEAF, Node};
use crate::customer::{FEATURE_COUNT, Features};

/// Rows walked side by side down a tree, and trees walked side by side for one row. Eight
/// independent chains hide a step's load latency; 4 or 16 were slower in
/// `benches/predict.rs` (for 1,000 rows: 408 µs with 4, 285 with 8, 321 with 16).
const ROWS: usize = 8;
const TREES: usize = 8;

/// A row widened for the walk: features with missing values as +∞ (slots `0..12`, for splits
/// that send missing values right), the same with −∞ (slots `12..24`, for splits that send
/// them left), then −∞ (what leaves read). 32 slots, so `slot & 31` needs no bounds check.
type Widened = [f32; 32];
const _: () = assert!(
    2 * FEATURE_COUNT < 32,
    "the widened row has room for both versions"
);
const MISSING_LEFT: u32 = FEATURE_COUNT as u32;
/// The slot leaves read: −∞ is never ≥ a leaf's (finite) value, so a leaf steps to itself.
const LEAF_SLOT: u32 = 2 * FEATURE_COUNT as u32;

/// One node for the walk, 12 bytes.
#[derive(Debug, Clone, Copy)]
struct Step {
    /// A split's threshold, or a leaf's value.
    threshold: f32,
    /// Which slot of the widened row the split reads (`LEAF_SLOT` for a leaf).
    slot: u32,
    /// The left child (the right one is next to it), or the leaf itself.
    left: u32,
}

/// The forest rearranged for branch-free walks.
#[derive(Debug, Clone, Default)]
pub(super) struct Lockstep {
    steps: Vec<Step>,
    /// Each tree's root and depth (the steps that reach any of its leaves), in tree order.
    trees: Vec<(u32, u32)>,
    /// The depth of each group of [`TREES`] consecutive trees (its deepest tree's), for
    /// [`Lockstep::margin`].
    group_depths: Vec<u32>,
}

impl Lockstep {
    /// Lays out the forest's validated trees (`roots` index `nodes`), children side by side.
    pub(super) fn new(nodes: &[Node], roots: &[u32]) -> Self {
        let mut steps = Vec::with_capacity(nodes.len());
        let mut trees = Vec::with_capacity(roots.len());
        // (node in `nodes`, its place in `steps`, its depth), breadth first.
        let mut queue = std::collections::VecDeque::new();
        for &root in roots {
            let place = steps.len();
            steps.push(placeholder());
            queue.push_back((root as usize, place, 0u32));
            let mut depth = 0;
            while let Some((index, place, level)) = queue.pop_front() {
                depth = depth.max(level);
                let node = nodes[index];
                // Indices fit in u32: the loader refused larger forests.
                steps[place] = if node.feature == LEAF {
                    Step {
                        threshold: node.value,
                        slot: LEAF_SLOT,
                        left: place as u32,
                    }
                } else {
                    let left = steps.len();
                    steps.extend([placeholder(), placeholder()]);
                    queue.push_back((node.left as usize, left, level + 1));
                    queue.push_back((node.right as usize, left + 1, level + 1));
                    let feature = node.feature & !DEFAULT_LEFT;
                    let missing_left = node.feature & DEFAULT_LEFT != 0;
                    // The loader refused features past the 12th: `slot & 31` hides nothing.
                    debug_assert!(feature < FEATURE_COUNT as u32, "feature {feature}");
                    Step {
                        threshold: node.value,
                        slot: feature + if missing_left { MISSING_LEFT } else { 0 },
                        left: left as u32,
                    }
                };
            }
            trees.push((place as u32, depth));
        }
        let group_depths = trees
            .chunks_exact(TREES)
            .map(|group| group.iter().map(|&(_, depth)| depth).max().unwrap_or(0))
            .collect();
        Lockstep {
            steps,
            trees,
            group_depths,
        }
    }

    /// Adds every tree's leaf for each row to `margins` (one per row, holding the base margin).
    pub(super) fn add_leaves(&self, rows: &[Features], margins: &mut [f32]) {
        debug_assert_eq!(rows.len(), margins.len());
        let mut blocks = rows.chunks_exact(ROWS);
        let mut sums = margins.chunks_exact_mut(ROWS);
        for (block, sums) in (&mut blocks).zip(&mut sums) {
            let widened: [Widened; ROWS] = std::array::from_fn(|i| widen(&block[i]));
            self.add_block(&widened, sums);
        }
        // The last few rows (all of them, for one customer): each on its own, trees side by side.
        for (row, margin) in blocks.remainder().iter().zip(sums.into_remainder()) {
            *margin = self.margin(row, *margin);
        }
    }

    /// `margin` (the base margin) plus one row's leaves: [`TREES`] trees side by side.
    pub(super) fn margin(&self, row: &Features, mut margin: f32) -> f32 {
        let row = widen(row);
        let mut groups = self.trees.chunks_exact(TREES);
        for (group, &depth) in (&mut groups).zip(&self.group_depths) {
            let mut at: [u32; TREES] = std::array::from_fn(|t| group[t].0);
            for _ in 0..depth {
                for index in &mut at {
                    *index = self.child(*index, &row);
                }
            }
            for index in at {
                margin += self.steps[index as usize].threshold;
            }
        }
        for &(root, depth) in groups.remainder() {
            let mut index = root;
            for _ in 0..depth {
                index = self.child(index, &row);
            }
            margin += self.steps[index as usize].threshold;
        }
        margin
    }

    /// Where `row` goes from the step at `index`: `left`, or the right child beside it.
    #[inline(always)]
    fn child(&self, index: u32, row: &Widened) -> u32 {
        let step = self.steps[index as usize];
        let goes_right = row[(step.slot & 31) as usize] >= step.threshold;
        step.left + u32::from(goes_right)
    }

    #[inline(always)]
    fn add_block(&self, rows: &[Widened; ROWS], sums: &mut [f32]) {
        let mut margins: [f32; ROWS] = std::array::from_fn(|i| sums[i]);
        for &(root, depth) in &self.trees {
            let mut at = [root; ROWS];
            for _ in 0..depth {
                for (index, row) in at.iter_mut().zip(rows) {
                    *index = self.child(*index, row);
                }
            }
            for (margin, index) in margins.iter_mut().zip(at) {
                *margin += self.steps[index as usize].threshold;
            }
        }
        sums.copy_from_slice(&margins);
    }
}

fn placeholder() -> Step {
    Step {
        threshold: 0.0,
        slot: LEAF_SLOT,
        left: 0,
    }
}

/// `row` with its missing values made +∞ (slots `0..12`) and −∞ (slots `12..24`). A value that
/// is present reads the same in both, so `x ≥ split` is XGBoost's `!(x < split)`.
fn widen(row: &Features) -> Widened {
    let mut widened = [f32::NEG_INFINITY; 32];
    for (f, &x) in row.iter().enumerate() {
        widened[f] = if x.is_nan() { f32::INFINITY } else { x };
        widened[f + FEATURE_COUNT] = if x.is_nan() { f32::NEG_INFINITY } else { x };
    }
    widened
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xgboost::Forest;

    /// The plain walk: jump on each split's outcome, stop at the leaf (XGBoost's predictor).
    fn walked(forest: &Forest, x: &Features) -> f32 {
        let mut margin = forest.base_margin;
        for &root in &forest.roots {
            let mut node = forest.nodes[root as usize];
            while node.feature != LEAF {
                node = forest.nodes[forest.child(node, x)];
            }
            margin += node.value;
        }
        margin
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The fixtures' customers, then each of the first 200 with one field at a time made
    /// missing, ±∞, −0 or exactly one of the model's split values for that field.
    fn probing_rows(forest: &Forest) -> Vec<Features> {
        let mut rows: Vec<Features> = ["parity.csv", "legacy-1.7-parity.csv"]
            .iter()
            .flat_map(|name| {
                fixture(name)
                    .lines()
                    .skip(1)
                    .map(|line| {
                        let mut row = [f32::NAN; FEATURE_COUNT];
                        for (slot, cell) in row.iter_mut().zip(line.split(',')) {
                            if !cell.is_empty() {
                                *slot = cell.parse().unwrap();
                            }
                        }
                        row
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let splits: Vec<(usize, f32)> = forest
            .nodes
            .iter()
            .filter(|n| n.feature != LEAF)
            .map(|n| ((n.feature & !DEFAULT_LEFT) as usize, n.value))
            .collect();
        let base: Vec<Features> = rows.iter().take(200).copied().collect();
        for row in &base {
            for f in 0..FEATURE_COUNT {
                for special in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0] {
                    let mut probe = *row;
                    probe[f] = special;
                    rows.push(probe);
                }
            }
        }
        for (i, &(f, split)) in splits.iter().enumerate() {
            let mut probe = base[i % base.len()];
            probe[f] = split;
            rows.push(probe);
        }
        rows
    }

    #[test]
    fn the_branch_free_walks_give_the_plain_walks_margins_bit_for_bit() {
        let legacy = Forest::from_bytes(fixture("legacy-1.7.json").as_bytes()).unwrap();
        let bundled = Forest::from_bytes(crate::BUNDLED_MODEL_JSON.as_bytes()).unwrap();
        // The 1.7 model sends missing values left at some splits, the bundled one never.
        for (name, forest) in [("bundled", bundled), ("legacy 1.7", legacy)] {
            let rows = probing_rows(&forest);
            let plain: Vec<u32> = rows.iter().map(|x| walked(&forest, x).to_bits()).collect();
            let one_by_one: Vec<u32> = rows.iter().map(|x| forest.margin(x).to_bits()).collect();
            assert_eq!(one_by_one, plain, "{name}: one row at a time");
            let mut margins = vec![0.0f32; rows.len()];
            forest.margins_into(&rows, &mut margins);
            let batch: Vec<u32> = margins.iter().map(|m| m.to_bits()).collect();
            assert_eq!(batch, plain, "{name}: {} rows at once", rows.len());
        }
    }
}
