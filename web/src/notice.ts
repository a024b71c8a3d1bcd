/**
 * A message handed from one page to the next (the environment deleted, said on the list of environments
 * the page goes to). Taken once.
 */
export interface Notice {
  at: number;
  clusterId: number;
  text: string;
}

let pending: Notice | null = null;

export const notice = {
  set: (value: Notice): void => {
    pending = value;
  },
  take: (): Notice | null => {
    const value = pending;
    pending = null;
    return value;
  },
};
