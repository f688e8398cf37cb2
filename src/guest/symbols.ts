/**
 * Guest kernel symbols for `tkvm perf`: from an ELF file's .symtab (a
 * vmlinux, or a freestanding test guest) or from a System.map, resolved by
 * address to `function+0xoffset`. Addresses are 64-bit, so they are BigInt
 * here; this runs once per distinct sampled RIP, off any hot path.
 *
 * ELF-64 layout (System V gABI, "Sections" and "Symbol Table"): section
 * headers at e_shoff, e_shnum entries of e_shentsize bytes; a SHT_SYMTAB
 * section's sh_link names its string table; each Elf64_Sym is 24 bytes.
 */
import { readFileSync } from 'node:fs';
import { TkvmError } from '../util/errors.js';

export interface GuestSymbol {
  address: bigint;
  /** Bytes the symbol covers; 0 when unknown (System.map, assembly labels): up to the next symbol. */
  size: bigint;
  name: string;
}

export class SymbolTable {
  /** Sorted by address; no two entries share one. */
  readonly #symbols: GuestSymbol[];

  constructor(symbols: GuestSymbol[]) {
    const sorted = [...symbols].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
    // Several names at one address (aliases): keep the first sized one, or the first.
    this.#symbols = [];
    for (const symbol of sorted) {
      const last = this.#symbols.at(-1);
      if (last && last.address === symbol.address) {
        if (last.size === 0n && symbol.size > 0n) this.#symbols[this.#symbols.length - 1] = symbol;
        continue;
      }
      this.#symbols.push(symbol);
    }
  }

  get size(): number {
    return this.#symbols.length;
  }

  /** The symbol covering `address`, and the offset into it; null outside every symbol. */
  lookup(address: bigint): { symbol: GuestSymbol; offset: bigint } | null {
    const symbols = this.#symbols;
    let low = 0;
    let high = symbols.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (symbols[mid]!.address <= address) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    if (found < 0) return null;
    const symbol = symbols[found]!;
    const offset = address - symbol.address;
    if (symbol.size > 0n ? offset >= symbol.size : found === symbols.length - 1 && offset > 0x100000n) return null;
    return { symbol, offset };
  }

  /** `name` for the symbol covering `address`, or null. */
  nameOf(address: bigint): string | null {
    return this.lookup(address)?.symbol.name ?? null;
  }
}

const ELF_MAGIC = 0x464c457f; // "\x7fELF" read little-endian
const SHT_SYMTAB = 2;
const STT_NOTYPE = 0;
const STT_FUNC = 2;
const SHN_UNDEF = 0;
const SHN_ABS = 0xfff1;

/** Code symbols from a 64-bit little-endian ELF's .symtab; throws ERR_SYMBOLS for anything else. */
export function parseElfSymbols(bytes: Uint8Array, what = 'the file'): GuestSymbol[] {
  const bad = (why: string): never => {
    throw new TkvmError('ERR_SYMBOLS', `cannot read symbols from ${what}: ${why}`);
  };
  if (bytes.length < 64) bad('too short for an ELF header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== ELF_MAGIC) bad('not an ELF file');
  if (bytes[4] !== 2 || bytes[5] !== 1) bad('not a 64-bit little-endian ELF');
  const shoff = Number(view.getBigUint64(0x28, true));
  const shentsize = view.getUint16(0x3a, true);
  const shnum = view.getUint16(0x3c, true);
  if (shentsize < 64 || shoff + shnum * shentsize > bytes.length) bad('section headers out of range');
  const section = (index: number) => {
    const at = shoff + index * shentsize;
    return {
      type: view.getUint32(at + 4, true),
      offset: Number(view.getBigUint64(at + 0x18, true)),
      size: Number(view.getBigUint64(at + 0x20, true)),
      link: view.getUint32(at + 0x28, true),
      entsize: Number(view.getBigUint64(at + 0x38, true)),
    };
  };
  const decoder = new TextDecoder();
  const symbols: GuestSymbol[] = [];
  let sawSymtab = false;
  for (let i = 0; i < shnum; i++) {
    const symtab = section(i);
    if (symtab.type !== SHT_SYMTAB) continue;
    sawSymtab = true;
    if (symtab.link >= shnum) bad('symbol table names no string table');
    const strtab = section(symtab.link);
    if (symtab.offset + symtab.size > bytes.length || strtab.offset + strtab.size > bytes.length) bad('symbol table out of range');
    const entsize = symtab.entsize || 24;
    for (let at = symtab.offset; at + 24 <= symtab.offset + symtab.size; at += entsize) {
      const type = bytes[at + 4]! & 0xf;
      const shndx = view.getUint16(at + 6, true);
      if ((type !== STT_FUNC && type !== STT_NOTYPE) || shndx === SHN_UNDEF || shndx === SHN_ABS) continue;
      const nameOffset = strtab.offset + view.getUint32(at, true);
      if (nameOffset >= strtab.offset + strtab.size) continue;
      let end = nameOffset;
      while (end < strtab.offset + strtab.size && bytes[end] !== 0) end++;
      const name = decoder.decode(bytes.subarray(nameOffset, end));
      if (name.length === 0 || name.startsWith('$') || name.startsWith('.L')) continue;
      symbols.push({ address: view.getBigUint64(at + 8, true), size: view.getBigUint64(at + 16, true), name });
    }
  }
  if (!sawSymtab) bad('it has no symbol table (stripped?)');
  return symbols;
}

/** Text symbols (types t, T, w, W) of a System.map: `ADDRESS TYPE NAME` per line. */
export function parseSystemMap(text: string): GuestSymbol[] {
  const symbols: GuestSymbol[] = [];
  for (const line of text.split('\n')) {
    const match = /^([0-9a-fA-F]{1,16}) ([tTwW]) (\S+)/.exec(line);
    if (match) symbols.push({ address: BigInt(`0x${match[1]}`), size: 0n, name: match[3]! });
  }
  return symbols;
}

/** Loads a symbol file: an ELF (vmlinux, test guest) or a System.map. One-line ERR_SYMBOLS errors. */
export function loadSymbols(path: string): SymbolTable {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new TkvmError('ERR_SYMBOLS', `cannot read symbols from ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (bytes.length >= 4 && bytes.readUInt32LE(0) === ELF_MAGIC) return new SymbolTable(parseElfSymbols(bytes, path));
  const symbols = parseSystemMap(bytes.toString('latin1'));
  if (symbols.length === 0) throw new TkvmError('ERR_SYMBOLS', `cannot read symbols from ${path}: neither an ELF file nor a System.map`);
  return new SymbolTable(symbols);
}
