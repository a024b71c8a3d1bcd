/** The part of asl-validator's API the tests use (the package ships no type declarations). */
declare module 'asl-validator' {
  interface AslError {
    'Error code': string;
    Message: string;
  }
  interface AslOptions {
    checkPaths?: boolean;
    checkArn?: boolean;
  }
  export default function aslValidator(
    definition: unknown,
    options?: AslOptions,
  ): { isValid: boolean; errors: AslError[] };
}
