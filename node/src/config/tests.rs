use std::time::Duration;

use clap::Parser;

use super::*;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

fn args(list: &[&str]) -> RunArgs {
    let mut argv = vec!["fluxnode-run"];
    argv.extend_from_slice(list);
    Cli::try_parse_from(argv).unwrap().run
}

fn resolve(list: &[&str], file: &str) -> Result<Config, ConfigError> {
    Config::resolve(&args(list), FileConfig::parse(file).unwrap())
}

#[test]
fn each_flag_lands_in_its_field() {
    let c = resolve(
        &[
            "--data-dir",
            "/d",
            "--key-file",
            "/k",
            "--geo",
            "NA_US_Texas",
            "--advertise-addr",
            "10.1.2.3",
            "--tier-profile",
            "testnet",
            "--listen",
            "/ip4/127.0.0.1/tcp/1,/ip4/127.0.0.1/udp/2/quic-v1",
            "--bootstrap",
            "/ip4/127.0.0.2/tcp/3",
            "--mdns",
            "true",
            "--single-node",
            "true",
            "--api-listen",
            "127.0.0.9:8080",
            "--docker-socket",
            "/run/d.sock",
            "--docker-label",
            "a=1,b=2",
            "--docker-name-suffix",
            "_n1",
            "--genesis",
            "1700000000",
            "--block-time",
            "100ms",
            "--bench-period",
            "2h",
            "--bench-quick",
            "true",
            "--min-uptime",
            "0.5",
            "--log-format",
            "json",
            "--log-filter",
            "debug",
        ],
        "",
    )
    .unwrap();
    assert_eq!(c.node.data_dir, PathBuf::from("/d"));
    assert_eq!(c.node.key_file, PathBuf::from("/k"));
    assert_eq!(c.node.geo.to_string(), "NA_US_Texas");
    assert_eq!(c.node.advertise_addr.to_string(), "10.1.2.3");
    assert_eq!(c.node.tier_profile, "testnet");
    assert_eq!(
        c.network.listen,
        ["/ip4/127.0.0.1/tcp/1", "/ip4/127.0.0.1/udp/2/quic-v1"]
    );
    assert_eq!(c.network.bootstrap, ["/ip4/127.0.0.2/tcp/3"]);
    assert!(c.network.mdns);
    assert!(c.network.single_node);
    assert_eq!(c.api.listen.to_string(), "127.0.0.9:8080");
    assert_eq!(c.docker.socket, PathBuf::from("/run/d.sock"));
    assert_eq!(c.docker.labels, ["a=1", "b=2"]);
    assert_eq!(c.docker.name_suffix, "_n1");
    assert_eq!(c.chain.genesis, 1_700_000_000);
    assert_eq!(c.chain.block_time, Duration::from_millis(100));
    assert_eq!(c.bench.period, Duration::from_secs(7200));
    assert!(c.bench.quick);
    assert_eq!(c.scheduler.min_uptime, 0.5);
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.log.filter, "debug");
}

#[test]
fn defaults_then_file_then_flags() {
    let defaults = resolve(&[], "").unwrap();
    assert_eq!(defaults, Config::default());
    assert_eq!(defaults.api.listen.port(), DEFAULT_API_PORT);
    assert_eq!(
        defaults.node.key_file,
        PathBuf::from("/var/lib/fluxnode/node.key")
    );

    let file =
        "[node]\ndata_dir = \"/srv/flux\"\ngeo = \"EU_FI_Uusimaa\"\n[chain]\nblock_time = \"1s\"\n";
    let from_file = resolve(&[], file).unwrap();
    assert_eq!(from_file.node.data_dir, PathBuf::from("/srv/flux"));
    assert_eq!(
        from_file.node.key_file,
        PathBuf::from("/srv/flux/node.key"),
        "key follows data dir"
    );
    assert_eq!(from_file.chain.block_time, Duration::from_secs(1));

    let flag_wins = resolve(&["--geo", "AS_SG_Singapore"], file).unwrap();
    assert_eq!(flag_wins.node.geo.to_string(), "AS_SG_Singapore");
    assert_eq!(
        flag_wins.node.data_dir,
        PathBuf::from("/srv/flux"),
        "file value kept"
    );
}

#[test]
fn bad_values_name_their_key() {
    let err = |list: &[&str], file: &str| resolve(list, file).unwrap_err().to_string();
    assert!(err(&["--geo", "EU__X"], "").starts_with("node.geo:"));
    assert!(err(&["--min-uptime", "1.5"], "").starts_with("scheduler.min_uptime:"));
    assert!(err(&["--block-time", "1ms"], "").starts_with("chain.block_time:"));
    assert!(err(&["--tier-profile", "huge"], "").starts_with("node.tier_profile:"));
    assert!(err(&["--bootstrap", "10.0.0.1:16125"], "").starts_with("network.bootstrap:"));
    assert!(
        err(&["--docker-app-subnet-pool", "172.23.0.0"], "").starts_with("docker.app_subnet_pool:")
    );
    assert!(err(&["--docker-app-subnet-prefix", "8"], "").starts_with("docker.app_subnet_prefix:"));
    let narrow = resolve(
        &[],
        "[docker]\napp_subnet_pool = \"10.20.0.0/22\"\napp_subnet_prefix = 26\n",
    )
    .unwrap();
    assert_eq!(narrow.docker.subnet_pool().unwrap().capacity(), 16);

    let unknown = FileConfig::parse("[node]\ngeoo = \"EU\"\n").unwrap_err();
    assert!(unknown.contains("geoo"), "{unknown}");
    let wrong_type = FileConfig::parse("[scheduler]\nmin_uptime = \"high\"\n").unwrap_err();
    assert!(wrong_type.contains("min_uptime"), "{wrong_type}");
    let bad_flag = Cli::try_parse_from(["x", "--api-listen", "nowhere"])
        .unwrap_err()
        .to_string();
    assert!(bad_flag.contains("--api-listen"), "{bad_flag}");
}

#[test]
fn printed_config_reads_back_identically() {
    let c = resolve(&["--geo", "OC_AU_Victoria", "--block-time", "250ms"], "").unwrap();
    let text = c.to_toml().unwrap();
    let again = resolve(&[], &text).unwrap();
    assert_eq!(again, c);
}
