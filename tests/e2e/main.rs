//! End-to-end tests of the `driftd` binary against real components: a Kafka-protocol broker
//! (tansu), redis-server, a third-party Kafka client (kafka-python) and real HTTP. Run them with
//! `scripts/test.sh`, which installs and starts what they need.

mod access;
mod adapters;
mod alerting;
mod cli;
mod container;
mod dashboards;
mod faults_group;
mod faults_loop;
mod faults_store;
mod harness;
mod hostile;
mod http;
mod https;
mod kafka;
mod kafka_tls;
mod lease;
mod loop_e2e;
mod openapi;
mod order;
mod prometheus;
mod registry;
mod replay;
mod report;
mod review;
mod serve;
mod sinks;
mod state;
mod tamper;
mod tidy;
mod tls;
