"""Transfer learning on the learner's own classes (the Transfer page's route "Your own classes"): photos kept by
content (photos), classes edited by pure functions (dataset), the store on disk (store), its zip (archive), the
frozen backbone's cached features (features), k-fold scoring (crossval), the run's config (config) and training
from the ImageNet ResNet-18 (fit)."""
