package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// commandPort is the serial port the host sends commands on; QEMU wires it
// to a unix socket.
const commandPort = "/dev/ttyS1"

// readCommands reads "verify N" lines from the command port forever and
// passes N to the workload loop. Without the port it reports once and stops:
// the workload and heartbeats go on.
func readCommands(out io.Writer, cmds chan<- int64) {
	f, err := os.OpenFile(commandPort, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		fmt.Fprintf(out, "DCRES warn no command port %s: %v\n", commandPort, err)
		return
	}
	if err := lineMode(int(f.Fd())); err != nil {
		fmt.Fprintf(out, "DCRES warn command port mode: %v\n", err)
	}
	s := bufio.NewScanner(f)
	for {
		for s.Scan() {
			if id, ok := parseCommand(s.Text()); ok {
				cmds <- id
			} else if t := strings.TrimSpace(s.Text()); t != "" {
				fmt.Fprintf(out, "DCRES warn unknown command %q\n", t)
			}
		}
		// A tty read error (e.g. the host end reconnecting) is transient.
		time.Sleep(time.Second)
		s = bufio.NewScanner(f)
	}
}

// parseCommand accepts "verify" or "verify N".
func parseCommand(line string) (id int64, ok bool) {
	f := strings.Fields(line)
	if len(f) == 0 || f[0] != "verify" || len(f) > 2 {
		return 0, false
	}
	if len(f) == 2 {
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, false
		}
		return n, true
	}
	return 0, true
}

// lineMode keeps canonical (line) input but turns off echo and CR/NL
// mapping, so the host sees nothing back on the command port.
func lineMode(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Lflag &^= unix.ECHO | unix.ECHOE | unix.ECHOK | unix.ECHONL
	t.Lflag |= unix.ICANON
	t.Iflag &^= unix.ICRNL | unix.IXON
	t.Iflag |= unix.IGNCR
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}
