package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// nameArgs wraps the Args check of every command under root so that a
// wrong number of arguments names them, from the command's Use line
// ("tongxing ca show needs SERIAL") instead of "accepts 1 arg(s)".
func nameArgs(root *cobra.Command) {
	for _, c := range root.Commands() {
		nameArgs(c)
		check := c.Args
		if check == nil || c.HasSubCommands() {
			continue
		}
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				names := useArgs(cmd.Use)
				if len(names) == 0 {
					return noArgs(cmd, args)
				}
				return fmt.Errorf("%s takes %s, got %d argument(s); see %s --help", cmd.CommandPath(), strings.Join(names, " "), len(args), cmd.CommandPath())
			}
			return nil
		}
	}
}

// useArgs are the argument names of a Use line: the words after the
// command's name up to the first flag.
func useArgs(use string) []string {
	words := strings.Fields(use)
	var names []string
	for _, w := range words[1:] {
		if strings.HasPrefix(w, "-") {
			break
		}
		names = append(names, w)
	}
	return names
}

// noArgs is cobra.NoArgs saying what was given.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return fmt.Errorf("%s takes no arguments, got %q; see %s --help", cmd.CommandPath(), strings.Join(args, " "), cmd.CommandPath())
}

// noSubcommand is the Args of a command group: cobra prints a group's help
// and exits 0 on an unknown subcommand; groups built with group run this
// instead and fail with suggestions.
func noSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return fmt.Errorf("%s\n\nRun '%s --help' for its commands", msg, cmd.CommandPath())
}

// groupRun makes every command group runnable: with no arguments it shows
// the group's help, with one it fails as noSubcommand does.
func groupRun(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.HasSubCommands() {
			if c.RunE == nil && c.Run == nil {
				c.Args = noSubcommand
				c.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
			}
			groupRun(c)
		}
	}
}

// flagError adds to cobra's flag errors a suggestion of the flag meant
// ("unknown flag: --profle" → did you mean --profile?) and where to look.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	name, ok := strings.CutPrefix(msg, "unknown flag: --")
	if ok {
		if s := suggestFlag(cmd.Flags(), name); s != "" {
			msg += " (did you mean --" + s + "?)"
		}
	}
	return fmt.Errorf("%s\nRun '%s --help' for its flags", msg, cmd.CommandPath())
}

// suggestFlag returns the flag of fs nearest name (edit distance at most
// 2, or a prefix), or "".
func suggestFlag(fs *pflag.FlagSet, name string) string {
	best, bestD := "", 3
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := levenshtein(name, f.Name)
		if strings.HasPrefix(f.Name, name) && len(name) >= 3 {
			d = min(d, 1)
		}
		if d < bestD {
			best, bestD = f.Name, d
		}
	})
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// normalizeFlags keeps the older spelling --out working for -o/--output.
func normalizeFlags(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	if name == "out" {
		name = "output"
	}
	return pflag.NormalizedName(name)
}

// daysDuration is a flag value taking Go durations and whole days (30d)
// or years (1y = 365d).
type daysDuration struct{ d *time.Duration }

// newDays registers a duration flag accepting days on fs.
func newDays(fs *pflag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var(daysDuration{p}, name, usage)
}

func (v daysDuration) String() string {
	if v.d == nil {
		return ""
	}
	return formatDays(*v.d)
}

func (v daysDuration) Set(s string) error {
	d, err := parseValidity(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

func (v daysDuration) Type() string { return "duration" }

// formatDays writes whole days as Nd, other durations as Go does.
func formatDays(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
