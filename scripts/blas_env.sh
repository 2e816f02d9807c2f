# Sourced by main.sh, test.sh and bench_dist.sh: on an Intel CPU, sets OPENBLAS_CORETYPE (when it
# is unset) to the OpenBLAS kernels for the CPU's vectors, SkylakeX with AVX-512 or Haswell with
# AVX2 and FMA.  For float and double those are the kernels OpenBLAS picks by itself on the
# Intel models it knows (it calls some Cooperlake: SkylakeX's plus bfloat16 ones); a model
# newer than the installed OpenBLAS would get its SSE3 "Prescott" kernels instead (OpenBLAS
# 0.3.21 on Intel's family 6 model 207: AlexNet trains at a third of the speed).  gluino warns
# about that at its first matrix product (include/gluino/kernels/blas_core.hpp); this sets it
# right for the scripts' own programs.  Other vendors are left to OpenBLAS's own choice.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qm1 '^vendor_id.*GenuineIntel' /proc/cpuinfo 2>/dev/null; then
  blas_env_flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  blas_env_has() { for f in "$@"; do [[ "$blas_env_flags" == *" $f "* ]] || return 1; done; }
  if blas_env_has avx512f avx512bw avx512vl avx512dq; then
    export OPENBLAS_CORETYPE=SkylakeX
  elif blas_env_has avx2 fma; then
    export OPENBLAS_CORETYPE=Haswell
  fi
  unset -f blas_env_has
  unset blas_env_flags
fi
