;; Counts down from n: cheap for small n, out of fuel for large ones.
(module
  (func (export "burn") (param $n i64) (result i64)
    (local $steps i64)
    (block $done
      (loop $step
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (local.set $steps (i64.add (local.get $steps) (i64.const 1)))
        (br $step)))
    (local.get $steps)))
