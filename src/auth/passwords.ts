import bcrypt from "bcryptjs";
import type { PasswordHasher } from "./password-pool.ts";

/** bcrypt on the calling thread; fine for tests and tools, the node uses a worker pool. */
export const inlineHasher: PasswordHasher = {
  hash: (password, cost) => bcrypt.hash(password, cost),
  compare: (password, hash) => bcrypt.compare(password, hash),
  close: async () => {},
};

/**
 * bcrypt reads only the first 72 bytes of a password: longer ones would
 * match any password sharing that prefix, so registration refuses them.
 */
export const maxPasswordBytes = 72;

/** True when bcrypt would silently ignore part of the password. */
export function isPasswordTooLong(password: string): boolean {
  return Buffer.byteLength(password, "utf8") > maxPasswordBytes;
}

/** bcrypt hash of `password` at `cost` (4..15); yields to the event loop while it works. */
export function hashPassword(
  password: string,
  cost: number,
  hasher: PasswordHasher = inlineHasher,
): Promise<string> {
  return hasher.hash(password, cost);
}

/** True when `password` matches `hash`. */
export function verifyPassword(
  password: string,
  hash: string,
  hasher: PasswordHasher = inlineHasher,
): Promise<boolean> {
  return hasher.compare(password, hash);
}

/**
 * Hashes of a random, discarded password, one per cost (generated once with
 * bcryptjs). Checking a login for an unknown user against the dummy of the
 * configured cost spends the same time as a wrong password, so response
 * time does not reveal which usernames exist. Nothing ever matches them.
 */
const dummyHashes: Readonly<Record<number, string>> = {
  4: "$2b$04$cOtokXqtATYOo63slDpjYur3metLdJ5Rv5bXdr.hudzLj4633mYbG",
  5: "$2b$05$OwBDmDurk6EyDr/IbVcFveUcch1V5sNp.XkoLazJ4EDxF7ttjQ2wq",
  6: "$2b$06$W67HHwrD9HelO9Rp1Ha6fOh6ssJMs0SETuSFJsIzAvdMFDwZDan6C",
  7: "$2b$07$f73d5mUpOUa2QWiGYBmf.e4Tv07Hvh3ZRBVGTDrSZBakjb16ptpcK",
  8: "$2b$08$DGgULw2rzpOEdIK6fbkvNuo2pJWBE2e83rufvVJPHviq8X3BC1KnS",
  9: "$2b$09$.bwtphpYOwuaJVgo3Bpe8ulc8dTmSQDD0oLZ7RY/LH89Q5aZ53./6",
  10: "$2b$10$/WkQPYJx0cQ/IA2Ss22jfeZYOQZzvZk9IdAj2wAD4dg40UARxrnrW",
  11: "$2b$11$oDpYQBA4BfY.1BIVMXkWu.g.ncnnbvj6qB8uy1gv2joNa20opJIcK",
  12: "$2b$12$oOHz1nIKQ3eIXENrIUKhqezoSfs/61hOotGize.MoUFBVQxNtgEzO",
  13: "$2b$13$H8vua3kbVYiK27ABOZgUG.jVNFr618zErl99AtRk7LWTcszrP7lIq",
  14: "$2b$14$rlucRppvioDy7cn1nYrSlOBmucgp19hy6u6AU.yXZSuL2xTyB.Omy",
  15: "$2b$15$N0Rw4jJIerqcmbzfmj.OqOhwJ84mr9kKM5TxmDJgnH1VWURqjtESW",
};

/** The dummy hash for `cost` (the schema limits bcryptCost to 4..15). */
export function dummyPasswordHash(cost: number): string {
  const hash = dummyHashes[cost];
  if (hash === undefined)
    throw new RangeError(`no dummy password hash for bcrypt cost ${cost} (supported: 4..15)`);
  return hash;
}

/**
 * Check a login in constant-ish time: `storedHash` is undefined when the
 * user does not exist, and the password is then compared with the dummy
 * hash of `cost` so both failures take as long as each other. A password
 * over 72 bytes never matches (registration refuses them, and bcrypt would
 * otherwise accept anything sharing the stored password's first 72 bytes);
 * it is checked against the dummy too, so it also takes as long.
 */
export async function verifyLogin(
  password: string,
  storedHash: string | undefined,
  cost: number,
  hasher: PasswordHasher = inlineHasher,
): Promise<boolean> {
  if (storedHash === undefined || isPasswordTooLong(password)) {
    await hasher.compare(password, dummyPasswordHash(cost));
    return false;
  }
  return hasher.compare(password, storedHash);
}
