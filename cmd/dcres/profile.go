package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"dcres/profiles"
)

const profileAbout = `Check or show profiles, without starting anything.

  dcres profile check FILE...       load each profile; print "FILE: ok" or every
                                    problem with FILE:LINE:COL and what is allowed
  dcres profile show [FILE] [--json] print the profile with every default filled
                                    in (default: lab-local); the YAML is itself a
                                    valid profile
  dcres profile list                name the shipped profiles

A bare name such as lab-split names a shipped profile. Exit status 2 when a
profile is bad.`

func cmdProfile(ctx context.Context, args []string) error {
	return runProfile(args, os.Stdout, os.Stderr)
}

// runProfile is cmdProfile with its output streams, for tests.
func runProfile(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("which subcommand? check, show or list (see dcres profile --help)")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(stderr, "usage: dcres profile check|show|list [flags] [FILE...]\n\n%s\n", profileAbout)
		return errHelp
	case "check":
		return profileCheck(args[1:], stdout, stderr)
	case "show":
		return profileShow(args[1:], stdout)
	case "list":
		fs := newFlags("profile list", "", "Name the shipped profiles and what each is.")
		if pos, err := parse(fs, args[1:]); err != nil {
			return err
		} else if len(pos) > 0 {
			return usagef("profile list takes no arguments, got %v", pos)
		}
		for _, name := range profiles.EmbeddedNames() {
			p, _ := profiles.Embedded(name)
			fmt.Fprintf(stdout, "%-18s %s\n", name, p.Description)
		}
		return nil
	}
	return usagef("unknown subcommand %q: use check, show or list (see dcres profile --help)", args[0])
}

func profileCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("profile check", "FILE...", "Load each profile and print \"FILE: ok\", or every problem in it with\nFILE:LINE:COL, what is wrong and what is allowed. Exit status 2 when any is bad.")
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("which profiles? e.g. dcres profile check profiles/*.yaml")
	}
	bad := 0
	for _, f := range files {
		if _, err := loadProfile([]string{f}); err != nil {
			bad++
			// A profile's problems already name their file; other errors
			// (a missing file) get it here.
			inner := err
			var ue usageError
			if errors.As(err, &ue) {
				inner = ue.error
			}
			var list profiles.ErrorList
			var one *profiles.Error
			if errors.As(inner, &list) || errors.As(inner, &one) {
				fmt.Fprintln(stderr, err)
			} else {
				fmt.Fprintf(stderr, "%s: %v\n", f, err)
			}
			continue
		}
		fmt.Fprintf(stdout, "%s: ok\n", f)
	}
	if bad > 0 {
		return usagef("%d of %d profiles have problems (see above)", bad, len(files))
	}
	return nil
}

func profileShow(args []string, stdout io.Writer) error {
	fs := newFlags("profile show", "[FILE]", "Print the profile (default: lab-local) with every default filled in: as YAML in\nthe profile's own keys, which loads back to the same profile, or as JSON.")
	asJSON := fs.Bool("json", false, "print JSON instead of YAML")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	p, err := loadProfile(pos)
	if err != nil {
		return err
	}
	out, err := p.YAML()
	if *asJSON {
		out, err = p.JSON()
	}
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}
