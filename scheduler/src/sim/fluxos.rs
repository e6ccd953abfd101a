pub(crate) fn run(config: &super::SimConfig) -> super::SimReport {
    super::bidding::run(config)
}
