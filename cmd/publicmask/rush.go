package main

import rushpkg "github.com/publicmask/publicmask/rush"

func rush(args []string) error { return rushpkg.Main(args) }
