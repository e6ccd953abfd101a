//! A per-batch index of the nodes, so placing an app costs a walk over region heads
//! rather than a check of every node.
//!
//! Built once per batch: every node gets its score (quality class and free share, app
//! independent), its [`Place`] and its free capacity; a placement lowers the winner's free
//! capacity and score and moves it down its region's list ([`NodeIndex::consume`]). Nodes that can take no new instance in this batch
//! (uptime below the minimum) are left out of the region lists. Each region's list is
//! ordered by score (best first), then id, so an app's best eligible nodes in a region
//! are found by walking from the front until enough eligible ones are seen; hashes are
//! computed only to order nodes of equal score. Nodes whose free capacity falls below the
//! smallest demand of the batch are skipped for good as the walk passes them.

use proto::geo::{GeoFilter, Location};
use proto::tier::Tier;

use crate::fasthash::{FxHashMap, map_with_capacity};
use crate::model::{Capacity, NodeInfo, Params};
use crate::ranking::{Ranker, best_quality, node_score};
use crate::spread::{Candidates, Place};

/// Node positions interned to dense [`Place`] indices, numbered in sorted order of the
/// location strings, so places sort like locations and regions of one country (and
/// countries of one continent) are contiguous.
#[derive(Debug, Clone, Default)]
pub struct PlaceTable {
    /// Place of each node, by node index.
    pub node_place: Vec<Place>,
    /// Location of each region, by region index.
    pub region_location: Vec<Location>,
}

impl PlaceTable {
    pub fn new(nodes: &[NodeInfo]) -> Self {
        type Triple<'a> = (&'a str, &'a str, &'a str);
        let mut seen: FxHashMap<Triple<'_>, u32> = map_with_capacity(64);
        let mut distinct: Vec<(Triple<'_>, usize)> = Vec::new();
        let mut raw = Vec::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            let t = (
                n.geo.continent.as_str(),
                n.geo.country.as_str(),
                n.geo.region.as_str(),
            );
            let next = distinct.len() as u32;
            let id = *seen.entry(t).or_insert_with(|| {
                distinct.push((t, i));
                next
            });
            raw.push(id);
        }
        // Renumber by sorted triple: the numbering then never depends on input order.
        let mut sorted: Vec<u32> = (0..distinct.len() as u32).collect();
        sorted.sort_unstable_by(|&a, &b| distinct[a as usize].0.cmp(&distinct[b as usize].0));
        let mut places = vec![
            Place {
                continent: 0,
                country: 0,
                region: 0,
            };
            distinct.len()
        ];
        let mut region_location = Vec::with_capacity(distinct.len());
        let (mut continent, mut country) = (0u32, 0u32);
        let mut prev: Option<Triple<'_>> = None;
        for (rank, &d) in sorted.iter().enumerate() {
            let (t, first_node) = distinct[d as usize];
            if let Some(p) = prev {
                if p.0 != t.0 {
                    continent += 1;
                    country += 1;
                } else if p.1 != t.1 {
                    country += 1;
                }
            }
            prev = Some(t);
            places[d as usize] = Place {
                continent,
                country,
                region: rank as u32,
            };
            if let Some(n) = nodes.get(first_node) {
                region_location.push(n.geo.clone());
            }
        }
        let node_place = raw.iter().map(|&id| places[id as usize]).collect();
        Self {
            node_place,
            region_location,
        }
    }

    pub fn region_count(&self) -> usize {
        self.region_location.len()
    }
}

/// Mutable per-batch view of the nodes.
#[derive(Debug)]
pub struct NodeIndex {
    pub places: PlaceTable,
    /// Score per node (see [`crate::ranking::score`]), kept current as the batch places.
    pub score: Vec<u64>,
    /// Best quality among the nodes: classes count down from it.
    best: u64,
    pub tier: Vec<Tier>,
    /// Free capacity per node, reduced as the batch places instances.
    pub free: Vec<Capacity>,
    /// Node indices grouped by region (in region order), best score first, then id.
    region_nodes: Vec<u32>,
    /// `region_nodes` range of each region; `region_live` is the first node not yet
    /// known to be full.
    region_end: Vec<u32>,
    region_live: Vec<u32>,
    /// Below this in any dimension a node can take no app of the batch.
    smallest_demand: Capacity,
    /// Scratch list for one region's walk.
    found: Vec<u32>,
}

impl NodeIndex {
    pub fn new(nodes: &[NodeInfo], params: &Params, smallest_demand: Capacity) -> Self {
        let places = PlaceTable::new(nodes);
        let free: Vec<Capacity> = nodes.iter().map(NodeInfo::free).collect();
        let best = best_quality(nodes);
        let score: Vec<u64> = nodes
            .iter()
            .zip(&free)
            .map(|(n, f)| node_score(n, best, *f))
            .collect();
        let regions = places.region_count();
        // Counting sort by region, then order each region by score and id.
        let mut region_end = vec![0u32; regions];
        // Nodes that can take nothing in this batch stay out of the lists altogether.
        let placeable = |i: usize, n: &NodeInfo| {
            crate::eligibility::uptime_ok(n.uptime, params) && smallest_demand.fits_within(&free[i])
        };
        for (i, (n, p)) in nodes.iter().zip(&places.node_place).enumerate() {
            if placeable(i, n) {
                region_end[p.region as usize] += 1;
            }
        }
        let mut region_live = Vec::with_capacity(regions);
        let mut acc = 0u32;
        for e in region_end.iter_mut() {
            region_live.push(acc);
            acc += *e;
            *e = acc;
        }
        let mut fill = region_live.clone();
        let mut region_nodes = vec![0u32; acc as usize];
        for (i, (n, p)) in nodes.iter().zip(&places.node_place).enumerate() {
            if placeable(i, n) {
                let slot = &mut fill[p.region as usize];
                region_nodes[*slot as usize] = i as u32;
                *slot += 1;
            }
        }
        for r in 0..regions {
            let range = region_live[r] as usize..region_end[r] as usize;
            if let Some(list) = region_nodes.get_mut(range) {
                list.sort_unstable_by(|&a, &b| {
                    score[b as usize]
                        .cmp(&score[a as usize])
                        .then_with(|| nodes[a as usize].id.cmp(&nodes[b as usize].id))
                });
            }
        }
        Self {
            places,
            score,
            best,
            tier: nodes.iter().map(|n| n.tier).collect(),
            free,
            region_nodes,
            region_end,
            region_live,
            smallest_demand,
            found: Vec::new(),
        }
    }

    /// Takes `demand` from node `i`'s free capacity, rescoring it and moving it down its
    /// region's list so the list stays ordered by score, then id.
    pub fn consume(&mut self, nodes: &[NodeInfo], i: usize, demand: Capacity) {
        let (Some(f), Some(n)) = (self.free.get_mut(i), nodes.get(i)) else {
            return;
        };
        *f = f.saturating_sub(demand);
        let new = node_score(n, self.best, *f);
        self.score[i] = new;
        let r = self.places.node_place[i].region as usize;
        let (Some(&live), Some(&end)) = (self.region_live.get(r), self.region_end.get(r)) else {
            return;
        };
        let Some(list) = self.region_nodes.get_mut(live as usize..end as usize) else {
            return;
        };
        // Nodes before `live` are full and never walked again; nothing to move then.
        let Some(pos) = list.iter().position(|&x| x as usize == i) else {
            return;
        };
        let score = &self.score;
        let behind = |x: u32| {
            score[x as usize] > new
                || (score[x as usize] == new && nodes[x as usize].id < nodes[i].id)
        };
        let mut to = pos;
        while to + 1 < list.len() && behind(list[to + 1]) {
            to += 1;
        }
        list[pos..=to].rotate_left(1);
    }

    /// Fills `out` with, for every region the geolocation filter admits, up to `take` of
    /// the app's best eligible nodes (plus any that tie with the last on score, then
    /// trimmed by the full order). `excluded(i)` marks nodes that must not be chosen
    /// (already running the app). Returns the number of regions with eligible nodes.
    #[allow(clippy::too_many_arguments)]
    pub fn collect(
        &mut self,
        nodes: &[NodeInfo],
        geo: &GeoFilter,
        required: Tier,
        demand: Capacity,
        take: usize,
        ranker: &Ranker,
        excluded: &dyn Fn(u32) -> bool,
        out: &mut Candidates,
    ) -> usize {
        out.clear();
        let unconstrained = geo.is_unconstrained();
        let mut regions_with_nodes = 0;
        for r in 0..self.places.region_count() {
            if !unconstrained
                && !self
                    .places
                    .region_location
                    .get(r)
                    .is_some_and(|loc| geo.admits(loc))
            {
                continue;
            }
            self.walk_region(r, required, demand, take, excluded);
            if self.found.is_empty() {
                continue;
            }
            regions_with_nodes += 1;
            let mut found = std::mem::take(&mut self.found);
            if found.len() > take {
                // Ties on score at the boundary: order them fully, keep `take`.
                found.sort_by(|&a, &b| {
                    ranker.cmp(
                        self.score[b as usize],
                        &nodes[b as usize].id,
                        self.score[a as usize],
                        &nodes[a as usize].id,
                    )
                });
                found.truncate(take);
            } else if found.len() > 1 {
                found.sort_by(|&a, &b| {
                    ranker.cmp(
                        self.score[b as usize],
                        &nodes[b as usize].id,
                        self.score[a as usize],
                        &nodes[a as usize].id,
                    )
                });
            }
            if let Some(&first) = found.first() {
                out.begin_group(self.places.node_place[first as usize]);
                for &i in &found {
                    out.push(i);
                }
            }
            self.found = found;
        }
        regions_with_nodes
    }

    /// Collects into `self.found` the first `take` eligible nodes of region `r` in score
    /// order, extended by every further node with the same score as the last one.
    fn walk_region(
        &mut self,
        r: usize,
        required: Tier,
        demand: Capacity,
        take: usize,
        excluded: &dyn Fn(u32) -> bool,
    ) {
        self.found.clear();
        let (Some(&end), Some(live)) = (self.region_end.get(r), self.region_live.get_mut(r)) else {
            return;
        };
        // Drop full nodes from the front for the rest of the batch.
        while *live < end {
            let i = self.region_nodes[*live as usize] as usize;
            if self.smallest_demand.fits_within(&self.free[i]) {
                break;
            }
            *live += 1;
        }
        let mut last_score = None;
        for pos in *live..end {
            let i = self.region_nodes[pos as usize];
            let s = self.score[i as usize];
            if self.found.len() >= take && last_score != Some(s) {
                break;
            }
            if self.tier[i as usize] >= required
                && demand.fits_within(&self.free[i as usize])
                && !excluded(i)
            {
                self.found.push(i);
                last_score = Some(s);
            }
        }
    }
}

/// Groups an explicit list of eligible nodes by region and ranks each group, for apps
/// with a `nodes` list, for choosing which running instances to keep, and for oracles.
pub fn candidates_from(
    list: &mut [u32],
    places: &[Place],
    score: &[u64],
    nodes: &[NodeInfo],
    ranker: &Ranker,
    out: &mut Candidates,
) {
    out.clear();
    list.sort_by(|&a, &b| {
        places[a as usize].cmp(&places[b as usize]).then_with(|| {
            ranker.cmp(
                score[b as usize],
                &nodes[b as usize].id,
                score[a as usize],
                &nodes[a as usize].id,
            )
        })
    });
    let mut last: Option<Place> = None;
    for &i in list.iter() {
        let p = places[i as usize];
        if last != Some(p) {
            out.begin_group(p);
            last = Some(p);
        }
        out.push(i);
    }
}

/// Score of a node with its listed free capacity among nodes whose best quality is
/// `best`, for callers building [`candidates_from`] inputs.
pub fn listed_score(n: &NodeInfo, best: u64) -> u64 {
    node_score(n, best, n.free())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::tier::Resources;

    fn node(id: &str, geo: &str, bench: f64) -> NodeInfo {
        NodeInfo {
            id: id.into(),
            tier: Tier::Nimbus,
            geo: geo.parse().unwrap(),
            total: Resources::new(8.0, 32_000, 440),
            used: Resources::default(),
            bench_score: bench,
            uptime: 1.0,
        }
    }

    #[test]
    fn place_numbering_follows_location_order_not_input_order() {
        let a = [
            node("1", "NA_US_Texas", 1.0),
            node("2", "EU_DE_Hesse", 1.0),
            node("3", "EU_FR_Normandy", 1.0),
            node("4", "EU_DE_Bavaria", 1.0),
            node("5", "EU_DE_Hesse", 1.0),
        ];
        let t = PlaceTable::new(&a);
        let p = |i: usize| t.node_place[i];
        assert_eq!(p(1), p(4), "same location, same place");
        assert_eq!(
            (p(3).continent, p(3).country),
            (0, 0),
            "EU_DE_Bavaria sorts first"
        );
        assert_eq!(p(2).country, 1);
        assert_eq!((p(0).continent, p(0).country, p(0).region), (1, 2, 3));
        let mut reversed = a.to_vec();
        reversed.reverse();
        let r = PlaceTable::new(&reversed);
        assert_eq!(r.node_place[0], t.node_place[4]);
        assert_eq!(r.region_location, t.region_location);
    }

    #[test]
    fn walk_returns_whole_score_ties_ordered_by_hash() {
        let nodes: Vec<NodeInfo> = (0..6)
            .map(|i| {
                node(
                    &format!("n{i}"),
                    "EU_DE_Hesse",
                    if i < 4 { 500.0 } else { 100.0 },
                )
            })
            .collect();
        let demand = Capacity::from(Resources::new(1.0, 100, 1));
        let mut index = NodeIndex::new(&nodes, &Params::default(), demand);
        let ranker = Ranker::new("app");
        let mut out = Candidates::default();
        let groups = index.collect(
            &nodes,
            &GeoFilter::default(),
            Tier::Cumulus,
            demand,
            2,
            &ranker,
            &|i| i == 0,
            &mut out,
        );
        assert_eq!(groups, 1);
        assert_eq!(out.node_count(), 2, "trimmed back to `take`");
        // The two kept are the best two of n1..n3 (n0 excluded) by hash.
        let mut tied: Vec<u32> = vec![1, 2, 3];
        tied.sort_by(|&a, &b| ranker.cmp(500, &nodes[b as usize].id, 500, &nodes[a as usize].id));
        let mut picks = Vec::new();
        crate::spread::select(
            &mut out,
            &[],
            2,
            |a, b| {
                ranker.cmp(
                    index.score[a as usize],
                    &nodes[a as usize].id,
                    index.score[b as usize],
                    &nodes[b as usize].id,
                )
            },
            &mut picks,
        );
        let got: Vec<u32> = picks.iter().map(|p| p.node).collect();
        assert_eq!(got, tied[..2].to_vec());
    }
}
