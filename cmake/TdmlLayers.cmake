# The layers of tdml (see docs/architecture.md): each area of src/ and include/tdml/ may include
# its own headers and those of the areas below it, never one above. The table is the single
# source of truth: tdml_add_area() links each area to exactly these, and the check below fails
# configure (and, through the tdml_layers target, every build) on an upward include.
#
#   util  <  data, models, metrics  <  train  <  dist, ledger  <  pipeline, fl  <  study, federation  <  apps
#
# ledger sits above train because it observes the trainer (ledger/train_observer.h); pipeline
# above dist because multi-process stages talk over a Comm; fl above ledger because a round is
# signed; federation above fl (its round engine) and dist (the local launcher, fl --nproc).
set(TDML_AREAS util data models metrics train dist ledger pipeline fl study federation)
set(TDML_BELOW_util "")
set(TDML_BELOW_data util)
set(TDML_BELOW_models util)
set(TDML_BELOW_metrics util)
set(TDML_BELOW_train data models metrics)
set(TDML_BELOW_dist train)
set(TDML_BELOW_ledger train)
set(TDML_BELOW_pipeline dist)
set(TDML_BELOW_fl ledger)
set(TDML_BELOW_study fl pipeline)
set(TDML_BELOW_federation fl dist)

# Every area an area may use: the transitive closure of TDML_BELOW_<area>.
function(tdml_allowed_areas area out)
  set(seen "")
  set(todo ${TDML_BELOW_${area}})
  while(todo)
    list(POP_FRONT todo a)
    if(NOT a IN_LIST seen)
      list(APPEND seen ${a})
      list(APPEND todo ${TDML_BELOW_${a}})
    endif()
  endwhile()
  set(${out} ${seen} PARENT_SCOPE)
endfunction()
