/**
 * ElectLeaders and the partition-reassignment APIs on the single-node broker. Kafka answers them on a
 * one-broker cluster too, so the single node takes the same decisions as the cluster's controller
 * (`broker/controller`) on an image of itself: every partition has one replica, this node, which leads
 * and is the ISR. There they never change anything: a preferred or unclean election is not needed, a
 * reassignment to this node alone is a no-op, one naming another broker is INVALID_REPLICA_ASSIGNMENT
 * (no such broker is registered), a cancellation is NO_REASSIGNMENT_IN_PROGRESS, and none is listed.
 */
import { Controller } from "../../controller/controller.ts";
import {
  type BrokerImage,
  emptyImage,
  type MetadataImage,
  type PartitionImage,
  RECOVERED,
  type TopicImage,
} from "../../controller/metadata-image.ts";
import type { Broker } from "../broker.ts";

export function singleNodeImage(broker: Broker): MetadataImage {
  const self = broker.nodeId;
  const topics = new Map<string, TopicImage>();
  const topicIds = new Map<string, string>();
  for (const rt of broker.topics.list()) {
    const partitions = new Map<number, PartitionImage>();
    for (let i = 0; i < rt.partitions.length; i++) {
      partitions.set(i, {
        partition: i,
        replicas: [self],
        isr: [self],
        removingReplicas: [],
        addingReplicas: [],
        leader: self,
        leaderRecoveryState: RECOVERED,
        leaderEpoch: 0,
        partitionEpoch: 0,
      });
    }
    topics.set(rt.meta.id, { name: rt.meta.name, id: rt.meta.id, partitions });
    topicIds.set(rt.meta.name, rt.meta.id);
  }
  const me: BrokerImage = {
    id: self,
    epoch: 0n,
    incarnationId: "",
    endpoints: new Map(),
    features: new Map(),
    rack: broker.settings.rack,
    fenced: false,
    inControlledShutdown: false,
  };
  return { ...emptyImage(broker.clusterId), brokers: new Map([[self, me]]), topics, topicIds };
}

/** A controller and the single node's image to decide on (the records it returns are always none). */
export function singleNodeController(broker: Broker): { controller: Controller; image: MetadataImage } {
  return { controller: new Controller({ clusterId: broker.clusterId }), image: singleNodeImage(broker) };
}
