import { BadRequestException, ConflictException, NotFoundException, ServiceUnavailableException } from '@nestjs/common';
import { isValidName } from '@switchyard/contracts';

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

export function unknownDeployment(name: string): NotFoundException {
  return new NotFoundException(`deployment "${name}" does not exist`);
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
