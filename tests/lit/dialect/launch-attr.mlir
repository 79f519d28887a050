// RUN: sieve-opt %s -split-input-file -verify-diagnostics | FileCheck %s

// A launch contract prints back as parsed; `waits_on_previous` (a combine
// launched as a programmatic dependent launch) only where it is set.
// CHECK: #sieve.launch<attention, grid = [2, 1, 1], block = [128, 1, 1], shared = 0, workspace = 64, align = 16, params = [#sieve.param<workspace.aligned>]>
// CHECK: #sieve.launch<combine, grid = [4, 1, 1], block = [256, 1, 1], shared = 0, workspace = 64, align = 0, params = [#sieve.param<workspace.aligned>], waits_on_previous>
module attributes {
  test.attention = #sieve.launch<attention, grid = [2, 1, 1], block = [128, 1, 1], shared = 0, workspace = 64, align = 16, params = [#sieve.param<workspace.aligned>]>,
  test.combine = #sieve.launch<combine, grid = [4, 1, 1], block = [256, 1, 1], shared = 0, workspace = 64, align = 0, params = [#sieve.param<workspace.aligned>], waits_on_previous>
} {}

// -----

// The attention launch is an artifact's first: it has no launch to wait on.
// expected-error @below {{launch: the attention launch comes first and waits on no previous one}}
module attributes {test.bad = #sieve.launch<attention, grid = [1, 1, 1], block = [32, 1, 1], shared = 0, workspace = 0, align = 0, params = [], waits_on_previous>} {}

// -----

// expected-error @below {{expected 'waits_on_previous'}}
module attributes {test.bad = #sieve.launch<combine, grid = [1, 1, 1], block = [32, 1, 1], shared = 0, workspace = 0, align = 0, params = [], early>} {}
