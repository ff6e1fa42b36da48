import { parentPort, workerData } from 'node:worker_threads';
import { logLevel } from 'kafkajs';
import { KafkaConnection } from '@switchyard/messaging';
import { EvaluationJob, scanAndEstimate } from './evaluate.service';

/**
 * One evaluation's scan, off the router's event loop (EvaluateService starts it): its own
 * Kafka connection, closed when done; the answer, or the failure's message, posted back.
 */
async function main(job: EvaluationJob): Promise<void> {
  const kafka = new KafkaConnection({ ...job.connection, logLevel: logLevel.ERROR });
  try {
    parentPort!.postMessage({ result: await scanAndEstimate(kafka, job) });
  } catch (error) {
    parentPort!.postMessage({ error: (error as Error).message });
  } finally {
    await kafka.close();
  }
}

void main(workerData as EvaluationJob);
