import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DeliveryService } from '../services/delivery-service';

type DeliveryParams = { jobId: string; deliveryId: string };

/** Handlers of the deliveries operations (`listDeliveries`, `retryDelivery`) of the contract. */
export function deliveryHandlers(deliveries: DeliveryService) {
  return {
    listDeliveries: async (request: FastifyRequest) => deliveries.listDeliveries(request.tenant, (request.params as DeliveryParams).jobId),
    retryDelivery: async (request: FastifyRequest, reply: FastifyReply) => {
      const { jobId, deliveryId } = request.params as DeliveryParams;
      return reply.code(202).send(await deliveries.retryDelivery(request.tenant, jobId, deliveryId));
    },
  };
}
