package main

import (
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestCommandTree holds the package documentation's list of commands to
// the commands newRoot makes: every runnable command is listed, once, and
// nothing else.
func TestCommandTree(t *testing.T) {
	var have []string
	var walk func(c *cobra.Command, path string)
	walk = func(c *cobra.Command, path string) {
		for _, s := range c.Commands() {
			if s.Hidden || s.Name() == "help" || s.Name() == "completion" {
				continue
			}
			p := path + " " + s.Name()
			if s.Runnable() && !s.HasSubCommands() { // a group runs only to refuse unknown subcommands
				have = append(have, p)
			}
			walk(s, p)
		}
	}
	walk(newRoot(io.Discard, io.Discard), "tongxing")

	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, line := range strings.Split(string(doc), "\n") {
		rest, ok := strings.CutPrefix(line, "//\ttongxing ")
		if !ok {
			continue
		}
		cmd, _, _ := strings.Cut(rest, "  ")
		listed = append(listed, "tongxing "+strings.TrimSpace(cmd))
	}
	for _, c := range have {
		if !slices.Contains(listed, c) {
			t.Errorf("%q is not in the package documentation", c)
		}
	}
	seen := map[string]bool{}
	for _, c := range listed {
		if !slices.Contains(have, c) {
			t.Errorf("the package documentation lists %q, which is no command", c)
		}
		if seen[c] {
			t.Errorf("the package documentation lists %q twice", c)
		}
		seen[c] = true
	}
}

// TestEveryCommandHasExample holds every command, groups included, to an
// Example: text, and the examples table to commands that exist.
func TestEveryCommandHasExample(t *testing.T) {
	paths := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, s := range c.Commands() {
			if s.Hidden || s.Name() == "help" || s.Name() == "completion" {
				continue
			}
			paths[s.CommandPath()] = true
			if strings.TrimSpace(s.Example) == "" {
				t.Errorf("%s has no Example", s.CommandPath())
			}
			walk(s)
		}
	}
	walk(newRoot(io.Discard, io.Discard))
	for p := range examples {
		if !paths[p] {
			t.Errorf("examples names %q, which is no command", p)
		}
	}
}
