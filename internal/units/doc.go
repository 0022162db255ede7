// Package units parses and formats the quantities that profiles and the
// console speak in: memory sizes, byte rates, link bit rates and percentages.
//
// Binary prefixes (KiB, MiB, GiB, TiB) are powers of 1024 and decimal ones
// (KB, MB, GB, TB) powers of 1000, as their names say; link rates follow tc
// and are decimal (1gbit = 10^9 bits/s). Parse errors name the value and
// list the accepted units, because the text usually comes from a file a
// person wrote.
package units
