/** DescribeCluster (key 60): one broker, which is also the controller. */
import { apis, type DescribeClusterResponse } from "../../../protocol/generated/index.ts";
import { liveBrokers } from "./cluster-metadata.ts";
import { AUTHORIZED_OPERATIONS_OMITTED, code } from "./common.ts";
import { defineHandler } from "./types.ts";

/** EndpointType: 1 = brokers (the only type a broker serves), 2 = controllers. */
const ENDPOINT_BROKERS = 1;

export const describeCluster = defineHandler(
  apis.DescribeCluster,
  0,
  1,
  (ctx, req): DescribeClusterResponse => {
    const b = ctx.broker;
    const endpointType = req.endpointType ?? ENDPOINT_BROKERS;
    const res: DescribeClusterResponse = {
      throttleTimeMs: 0,
      errorCode: 0,
      errorMessage: null,
      clusterId: b.clusterId,
      controllerId: b.nodeId,
      brokers: [
        { brokerId: b.nodeId, host: b.advertisedHost, port: b.advertisedPort, rack: b.settings.rack },
      ],
      clusterAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
    };
    if (b.cluster) {
      res.controllerId = b.cluster.controllerId();
      res.brokers = liveBrokers(b.cluster.image).map((x) => ({
        brokerId: x.nodeId,
        host: x.host,
        port: x.port,
        rack: x.rack ?? null,
      }));
    }
    if (ctx.apiVersion >= 1) res.endpointType = ENDPOINT_BROKERS;
    if (endpointType !== ENDPOINT_BROKERS) {
      res.errorCode = code("UNSUPPORTED_ENDPOINT_TYPE");
      res.errorMessage =
        "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER";
      res.brokers = [];
      res.controllerId = -1;
    }
    return res;
  },
);
