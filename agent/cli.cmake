# truc: the command line for clerks and scripts, a client of the agent's
# local API (agent/API.md). Included by agent/CMakeLists.txt.
add_executable(truc
  ${CMAKE_CURRENT_LIST_DIR}/cli/truc.c
  ${CMAKE_CURRENT_LIST_DIR}/cli/cli_args.c
  ${CMAKE_CURRENT_LIST_DIR}/cli/cli_agent.c
  ${CMAKE_CURRENT_LIST_DIR}/cli/cli_json.c
  ${CMAKE_CURRENT_LIST_DIR}/cli/cli_out.c
  ${CMAKE_CURRENT_LIST_DIR}/cli/cli_send.c
  ${CMAKE_CURRENT_LIST_DIR}/cli/cli_read.c
  ${CMAKE_CURRENT_LIST_DIR}/cli/cli_watch.c
  ${CMAKE_CURRENT_LIST_DIR}/cli/cli_vocab.c
  ${CMAKE_CURRENT_LIST_DIR}/cli/cli_doc.c
  ${CMAKE_CURRENT_LIST_DIR}/cli/cli_list.c
  ${CMAKE_CURRENT_LIST_DIR}/cli/cli_ids.c
  ${CMAKE_CURRENT_LIST_DIR}/cli/cli_ops.c
  ${CMAKE_CURRENT_LIST_DIR}/cli/cli_export.c
  ${CMAKE_CURRENT_LIST_DIR}/cli/cli_edxml.c
  ${CMAKE_CURRENT_LIST_DIR}/cli/cli_evidence.c
)
target_link_libraries(truc PRIVATE truc_proto PkgConfig::ZMQ m)
target_compile_definitions(truc PRIVATE TRUC_VERSION="${PROJECT_VERSION}")
install(TARGETS truc RUNTIME DESTINATION bin)
