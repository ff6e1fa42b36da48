import 'reflect-metadata';
import { IsObject, IsOptional, IsString, MaxLength } from 'class-validator';
import { MaxJsonBytes } from './validation';

/** The Flagger webhook types the router answers (`POST /v1/flagger/{name}/{hook}`). */
export const FLAGGER_HOOKS = ['confirm-traffic-increase', 'confirm-promotion', 'rollback'] as const;
export type FlaggerHook = (typeof FLAGGER_HOOKS)[number];

/**
 * What Flagger POSTs to a webhook (`CanaryWebhookPayload` in fluxcd/flagger
 * pkg/apis/flagger/v1beta1/canary.go; docs.flagger.app/usage/webhooks). Flagger sends no
 * headers of its own choosing, so a key travels in `metadata.token`.
 */
export class FlaggerWebhookPayload {
  /** The Canary's name: Flagger's, which need not be the Switchyard deployment's. */
  @IsString()
  @MaxLength(253)
  name: string;

  @IsString()
  @MaxLength(253)
  namespace: string;

  /** Flagger's canary phase (Progressing, Waiting, WaitingPromotion, …); not read: the verdict is Switchyard's. */
  @IsString()
  @MaxLength(64)
  phase: string;

  /** Absent from Flagger releases before 1.34. */
  @IsOptional()
  @IsString()
  @MaxLength(256)
  checksum?: string;

  /** The webhook's `metadata` from the Canary, string to string. */
  @IsOptional()
  @IsObject()
  @MaxJsonBytes(4096)
  metadata?: Record<string, string>;
}
