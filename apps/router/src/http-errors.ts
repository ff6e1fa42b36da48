import {
  BadGatewayException,
  BadRequestException,
  ConflictException,
  HttpException,
  HttpStatus,
  NotFoundException,
  PayloadTooLargeException,
  ServiceUnavailableException,
  UnprocessableEntityException,
} from '@nestjs/common';
import { isValidName } from '@switchyard/contracts';
import { deploymentNotFound, Failure, Outcome } from './outcome';

/** 400 whose body lists every problem, so a client can fix them all at once. */
export function invalid(message: string, problems: string[]): BadRequestException {
  return new BadRequestException({ statusCode: 400, error: 'Bad Request', message: `${message}: ${problems.join('; ')}`, problems });
}

/** Path names are checked before they reach a Redis key or a log line. */
export function checkName(name: string, what = 'deployment'): string {
  if (!isValidName(name)) {
    throw invalid(`invalid ${what} name`, [`${what} name must be 1-63 lowercase letters, digits, "-" or "_", starting with a letter or digit`]);
  }
  return name;
}

const REJECTIONS = { 400: BadRequestException, 413: PayloadTooLargeException, 422: UnprocessableEntityException };

/** The HTTP answer to a domain failure: the one place a failure gets its status. */
export function httpError(failure: Failure): HttpException {
  switch (failure.error) {
    case 'not-found':
      return new NotFoundException(failure.message);
    case 'duplicate-request':
      return new ConflictException(failure.message);
    case 'input-rejected':
      return new REJECTIONS[failure.status](failure.message);
    case 'model-failed':
      return new BadGatewayException(failure.message);
    case 'unavailable':
      return new ServiceUnavailableException(failure.message);
    case 'busy':
      return new HttpException(failure.message, HttpStatus.TOO_MANY_REQUESTS);
    case 'cannot-evaluate':
      return new UnprocessableEntityException({
        statusCode: 422,
        error: 'Unprocessable Entity',
        message: failure.message,
        reasons: failure.reasons,
        n: failure.n,
      });
  }
}

/** A domain outcome's value, or its failure thrown as the HTTP answer (controllers return what this returns). */
export function valueOrHttpError<T>(outcome: Outcome<T>): T {
  if (!outcome.ok) throw httpError(outcome);
  return outcome.value;
}

export function unknownDeployment(name: string): HttpException {
  return httpError(deploymentNotFound(name));
}

/** A change built from a spec that another change replaced meanwhile (compare-and-set). */
export function changedMeanwhile(name: string, read: number, current: number | null): ConflictException {
  return new ConflictException(
    `deployment "${name}" changed while this request was handled (read version ${read}, now ${current ?? 'deleted'}); read it again and retry`,
  );
}

export function notReadBack(error: Error): ServiceUnavailableException {
  return new ServiceUnavailableException(`${error.message}; GET the deployment to see whether it applied`);
}
