package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// readInput reads path, or standard input when path is empty or "-".
func readInput(path string, std stdio) ([]byte, error) {
	if path == "" || path == "-" {
		return io.ReadAll(std.in)
	}
	return os.ReadFile(path)
}

// writeOutput writes data to path atomically (temporary file in the same
// directory, renamed into place only when complete), or to standard output
// when path is empty or "-". Nothing partial is ever left at path.
func writeOutput(path string, data []byte, mode os.FileMode, std stdio) error {
	if path == "" || path == "-" {
		_, err := std.out.Write(data)
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
