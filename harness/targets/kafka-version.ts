// The one place the Apache Kafka release used as the reference target is pinned. `npm run setup`
// downloads exactly this release's jars from Maven Central into `<cache>/kafka-<version>/libs` (see CACHE_DIR in harness/tools.ts).
// 4.4.0 is listed on Maven Central but its kafka-tools artifacts are not published there, so 4.3.1 is
// the newest 4.x release whose full set of jars resolves.
export const KAFKA_VERSION = "4.3.1";

// The Scala build of the core jar (`kafka_2.13`), part of the artifact name.
export const KAFKA_SCALA_VERSION = "2.13";
