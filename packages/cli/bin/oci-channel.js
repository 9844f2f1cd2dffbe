#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
import '../src/bin.ts';
