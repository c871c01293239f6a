/**
 * The API as an AWS Lambda function behind an API Gateway HTTP API (payload format 2.0): the same
 * Fastify app, routes, schemas and errors as `server.ts`. Configuration is read once per cold start.
 */
import awsLambdaFastify from '@fastify/aws-lambda';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app';
import { loadConfig } from './config';

type LambdaHandler = (event: unknown, context: unknown) => Promise<unknown>;

let ready: Promise<LambdaHandler> | null = null;
let app: FastifyInstance | null = null;

async function init(): Promise<LambdaHandler> {
  app = await buildApp(loadConfig(process.env));
  const proxy = awsLambdaFastify(app, { binaryMimeTypes: ['application/octet-stream'] }) as unknown as LambdaHandler;
  await app.ready();
  return proxy;
}

export async function handler(event: unknown, context: unknown): Promise<unknown> {
  ready ??= init().catch((err) => {
    ready = null;
    throw err;
  });
  return (await ready)(event, context);
}

/** Closes the app and its connections (the runtime's SIGTERM, and tests). */
export async function shutdown(): Promise<void> {
  const current = app;
  app = null;
  ready = null;
  await current?.close();
}

process.once('SIGTERM', () => void shutdown());
