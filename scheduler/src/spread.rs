//! Choosing winners among eligible nodes: geographic spread first, then quality.
//!
//! Eligible nodes arrive grouped by region, each group ranked best first (see
//! [`crate::ranking`]). Nodes already hosting the app (the *seed*) count as covering their
//! continent, country and region. Picks are made in four passes:
//!
//! 1. **Continent**: for each continent not yet covered, its best node; the best of those
//!    win, as many as slots remain.
//! 2. **Country**: the same for each uncovered country.
//! 3. **Region**: the same for each uncovered region.
//! 4. **Quality**: the best remaining nodes, wherever they are.
//!
//! Every pick of pass 1 covers a new continent, country and region; every pick of pass 2 a
//! new country and region; every pick of pass 3 a new region. Hence the winners (with the
//! seed) cover `min(slots, eligible continents)` continents beyond the seed, and likewise
//! for countries and regions, which is the most any choice can cover at each level. Each
//! region's winners are its best nodes (its head in passes 1–3, then best-remaining in
//! pass 4), so no loser can replace a winner of its own region and raise quality.

use std::cmp::Ordering;

/// A node's position at the three spread levels, as dense indices (equal index = same
/// continent / country / region). A region index is unique across countries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Place {
    pub continent: u32,
    pub country: u32,
    pub region: u32,
}

/// The pass in which a winner was picked: the spread level it added, or quality alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Continent,
    Country,
    Region,
    Quality,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Continent => "continent",
            Level::Country => "country",
            Level::Region => "region",
            Level::Quality => "quality",
        }
    }

    fn key(self, p: &Place) -> u32 {
        match self {
            Level::Continent => p.continent,
            Level::Country => p.country,
            Level::Region | Level::Quality => p.region,
        }
    }
}

/// One winner: the caller's node handle and the pass that picked it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    pub node: u32,
    pub level: Level,
}

/// Eligible nodes grouped by region, in flat buffers so one value can be reused for every
/// app of a batch without allocating per region.
#[derive(Debug, Default, Clone)]
pub struct Candidates {
    places: Vec<Place>,
    starts: Vec<u32>,
    nodes: Vec<u32>,
    // Scratch space for `select`, kept here to reuse its allocation.
    cursor: Vec<u32>,
    heads: Vec<u32>,
}

impl Candidates {
    pub fn clear(&mut self) {
        self.places.clear();
        self.starts.clear();
        self.nodes.clear();
    }

    /// Starts a region group. Groups must be pushed in `Place` order, one per region,
    /// and each group's nodes best first.
    pub fn begin_group(&mut self, place: Place) {
        self.places.push(place);
        self.starts.push(self.nodes.len() as u32);
    }

    pub fn push(&mut self, node: u32) {
        self.nodes.push(node);
    }

    /// Drops the last group if no node was pushed into it.
    pub fn end_group(&mut self) {
        if self
            .starts
            .last()
            .is_some_and(|&s| s as usize == self.nodes.len())
        {
            self.places.pop();
            self.starts.pop();
        }
    }

    pub fn group_count(&self) -> usize {
        self.places.len()
    }

    /// The place of group `g` (groups are numbered in push order).
    pub fn place(&self, g: usize) -> Place {
        self.places.get(g).copied().unwrap_or(Place {
            continent: 0,
            country: 0,
            region: 0,
        })
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    fn end(&self, g: usize) -> u32 {
        self.starts
            .get(g + 1)
            .copied()
            .unwrap_or(self.nodes.len() as u32)
    }
}

fn covers(seed: &[Place], covered: &[Place], level: Level, key: u32) -> bool {
    seed.iter().chain(covered).any(|p| level.key(p) == key)
}

/// Picks up to `slots` winners from `c`, appending them to `picks` in pick order.
/// `better(a, b)` is `Greater` when node `a` ranks above node `b`.
pub fn select(
    c: &mut Candidates,
    seed: &[Place],
    slots: usize,
    better: impl Fn(u32, u32) -> Ordering,
    picks: &mut Vec<Pick>,
) {
    let groups = c.places.len();
    c.cursor.clear();
    c.cursor.extend_from_slice(&c.starts);
    let mut covered: Vec<Place> = Vec::new();
    let mut taken = 0usize;

    for level in [Level::Continent, Level::Country, Level::Region] {
        if taken == slots {
            break;
        }
        // The best head of every uncovered key at this level. Groups are in `Place`
        // order, so each key's groups are contiguous.
        c.heads.clear();
        let mut g = 0;
        while g < groups {
            let key = level.key(&c.places[g]);
            if covers(seed, &covered, level, key) {
                while g < groups && level.key(&c.places[g]) == key {
                    g += 1;
                }
                continue;
            }
            let mut best: Option<u32> = None;
            while g < groups && level.key(&c.places[g]) == key {
                if c.cursor[g] < c.end(g) {
                    let head = c.nodes[c.cursor[g] as usize];
                    if best.is_none_or(|b| {
                        better(head, c.nodes[c.cursor[b as usize] as usize]) == Ordering::Greater
                    }) {
                        best = Some(g as u32);
                    }
                }
                g += 1;
            }
            if let Some(b) = best {
                c.heads.push(b);
            }
        }
        let want = slots - taken;
        let mut heads = std::mem::take(&mut c.heads);
        let head_node = |c: &Candidates, g: u32| c.nodes[c.cursor[g as usize] as usize];
        // Best first; only the top `want` need ordering.
        let order = |a: &u32, b: &u32| better(head_node(c, *b), head_node(c, *a));
        if heads.len() > want {
            heads.select_nth_unstable_by(want - 1, order);
            heads.truncate(want);
        }
        heads.sort_unstable_by(order);
        for &g in &heads {
            let gi = g as usize;
            picks.push(Pick {
                node: c.nodes[c.cursor[gi] as usize],
                level,
            });
            c.cursor[gi] += 1;
            covered.push(c.places[gi]);
            taken += 1;
        }
        c.heads = heads;
    }

    // Pass 4: best remaining anywhere. Reached only when every eligible region is
    // covered, so there are few groups with nodes left to compare.
    while taken < slots {
        let mut best: Option<usize> = None;
        for g in 0..groups {
            if c.cursor[g] < c.end(g) {
                let head = c.nodes[c.cursor[g] as usize];
                if best.is_none_or(|b| {
                    better(head, c.nodes[c.cursor[b] as usize]) == Ordering::Greater
                }) {
                    best = Some(g);
                }
            }
        }
        let Some(g) = best else { break };
        picks.push(Pick {
            node: c.nodes[c.cursor[g] as usize],
            level: Level::Quality,
        });
        c.cursor[g] += 1;
        taken += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds candidates from (continent, country, region, score) rows; node handle =
    /// row index, better = higher score, then lower index.
    fn run(rows: &[(u32, u32, u32, u64)], seed: &[Place], slots: usize) -> Vec<Pick> {
        let mut idx: Vec<usize> = (0..rows.len()).collect();
        idx.sort_by(|&a, &b| {
            let (ra, rb) = (rows[a], rows[b]);
            (ra.0, ra.1, ra.2)
                .cmp(&(rb.0, rb.1, rb.2))
                .then(rb.3.cmp(&ra.3))
                .then(a.cmp(&b))
        });
        let mut c = Candidates::default();
        let mut last: Option<Place> = None;
        for i in idx {
            let (continent, country, region, _) = rows[i];
            let p = Place {
                continent,
                country,
                region,
            };
            if last != Some(p) {
                c.begin_group(p);
                last = Some(p);
            }
            c.push(i as u32);
        }
        let mut picks = Vec::new();
        let better = |a: u32, b: u32| rows[a as usize].3.cmp(&rows[b as usize].3).then(b.cmp(&a));
        select(&mut c, seed, slots, better, &mut picks);
        picks
    }

    fn nodes(p: &[Pick]) -> Vec<u32> {
        p.iter().map(|p| p.node).collect()
    }

    #[test]
    fn spreads_over_continents_before_quality() {
        // Three strong nodes in one German region, one weak node in the US.
        let rows = [(0, 0, 0, 90), (0, 0, 0, 80), (0, 0, 0, 70), (1, 1, 1, 10)];
        let picks = run(&rows, &[], 2);
        assert_eq!(nodes(&picks), vec![0, 3]);
        assert_eq!(picks[1].level, Level::Continent);
    }

    #[test]
    fn countries_then_regions_then_best_remaining() {
        let rows = [
            (0, 0, 0, 50), // EU DE r0
            (0, 0, 0, 49),
            (0, 0, 1, 10), // EU DE r1
            (0, 1, 2, 20), // EU FR r2
        ];
        let picks = run(&rows, &[], 4);
        assert_eq!(nodes(&picks), vec![0, 3, 2, 1]);
        let levels: Vec<Level> = picks.iter().map(|p| p.level).collect();
        assert_eq!(
            levels,
            vec![
                Level::Continent,
                Level::Country,
                Level::Region,
                Level::Quality
            ]
        );
    }

    #[test]
    fn seed_counts_as_covered() {
        let rows = [(0, 0, 0, 50), (0, 1, 1, 10), (1, 2, 2, 5)];
        // A running instance already covers continent 1: the next pick spreads by
        // country within continent 0 rather than by continent.
        let seed = [Place {
            continent: 1,
            country: 3,
            region: 3,
        }];
        assert_eq!(nodes(&run(&rows, &seed, 2)), vec![0, 1]);
    }

    #[test]
    fn fewer_candidates_than_slots_takes_all() {
        let rows = [(0, 0, 0, 1), (0, 0, 0, 2)];
        assert_eq!(nodes(&run(&rows, &[], 5)), vec![1, 0]);
        assert!(run(&[], &[], 3).is_empty());
        assert!(run(&rows, &[], 0).is_empty());
    }
}
