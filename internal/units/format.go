package units

import (
	"fmt"
	"strconv"
)

var binaryNames = []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}

// FormatBytes renders a byte count with the largest binary unit it reaches:
// "512 MiB", "1.5 GiB", "100 B". Whole values print without decimals so
// sizes read back exactly through ParseSize.
func FormatBytes(n int64) string {
	sign := ""
	u := uint64(n)
	if n < 0 {
		sign = "-"
		u = uint64(-n) // -MinInt64 wraps to itself, and as uint64 that is right
	}
	i := 0
	for i < len(binaryNames)-1 && u >= 1<<(10*(i+1)) {
		i++
	}
	div := uint64(1) << (10 * i)
	if u%div == 0 {
		return sign + strconv.FormatUint(u/div, 10) + " " + binaryNames[i]
	}
	return fmt.Sprintf("%s%.1f %s", sign, float64(u)/float64(div), binaryNames[i])
}

// FormatRate renders bytes per second with one decimal in the largest
// binary unit it reaches: "32.0 MiB/s", "512.0 B/s".
func FormatRate(bytesPerSec float64) string {
	sign := ""
	v := bytesPerSec
	if v < 0 {
		sign = "-"
		v = -v
	}
	i := 0
	for i < len(binaryNames)-1 && v >= 1024 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%s%.1f %s/s", sign, v, binaryNames[i])
}
