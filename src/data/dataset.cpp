#include "tdml/data/dataset.h"

namespace tdml::data {

Dataset Dataset::subset(const torch::Tensor& index) const {
  Dataset d;
  d.images = images.index_select(0, index);
  d.labels = labels.index_select(0, index);
  d.num_classes = num_classes;
  d.source = source;
  return d;
}

}  // namespace tdml::data
