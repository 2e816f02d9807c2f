# SPDX-License-Identifier: Apache-2.0
# Runs COMMAND (a ;-list) and passes when it exits non-zero AND its output matches EXPECT:
#   cmake -DCOMMAND="prog;--flag;value" -DEXPECT="regex" -P expect_failure.cmake
# (CTest's PASS_REGULAR_EXPRESSION alone would ignore the exit code, WILL_FAIL the message.)
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(code EQUAL 0)
  message(FATAL_ERROR "expected a failure, but the command exited 0")
endif()
if(NOT "${out}${err}" MATCHES "${EXPECT}")
  message(FATAL_ERROR "exit code ${code}, but the output does not match '${EXPECT}'")
endif()
