"""Train an MLP on the bundled digits with the Python API: the loop, callbacks, a checkpoint.

    python examples/train_digits.py [run_dir]

The same run from the command line is just ``chainrule train``; this shows the pieces.
"""

import sys

import chainrule as cr
from chainrule.data import ArrayDataset, DataLoader, Standardizer, load_dataset, train_val_split
from chainrule.train import EarlyStopping, ModelCheckpoint, ProgressBar, evaluate, fit

run_dir = sys.argv[1] if len(sys.argv) > 1 else "runs/example-digits"

# data: hold out 10 % for validation, standardize with training statistics only
splits = load_dataset("digits")
X, X_val, y, y_val = train_val_split(splits.X_train, splits.y_train, 0.1, rng=0, stratify=True)
scaler = Standardizer().fit(X)
X, X_val, X_test = (scaler.transform(a) for a in (X, X_val, splits.X_test))
loader = DataLoader(ArrayDataset(X, y), batch_size=32, shuffle=True, rng=0)

# model, loss, optimizer (weight decay on the weight matrices only), schedule
cr.manual_seed(0)
model = cr.nn.MLP([64, 256, 128, 10], activation="relu", init="he", dropout=0.2)
loss_fn = cr.nn.functional.cross_entropy
optimizer = cr.optim.SGD(cr.nn.param_groups(model, 5e-4), lr=0.05, momentum=0.9)
epochs = 30
scheduler = cr.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * len(loader))

history = fit(
    model,
    loss_fn,
    optimizer,
    loader,
    epochs,
    val_data=(X_val, y_val),
    scheduler=scheduler,
    scheduler_interval="step",
    callbacks=[EarlyStopping(patience=10), ProgressBar(epochs), ModelCheckpoint(run_dir)],
)
test = evaluate(model, loss_fn, (X_test, splits.y_test))
best = history.best("val_loss")
print(
    f"best epoch {best['epoch']} (val loss {best['val_loss']:.4f}); "
    f"test accuracy {100 * test['accuracy']:.2f}%"
)

# the checkpoint holds the whole training state; the weights load into a fresh model
state = cr.load(f"{run_dir}/best.safetensors")
fresh = cr.nn.MLP([64, 256, 128, 10], activation="relu", dropout=0.2)
fresh.load_state_dict(state["model"])
print(
    f"reloaded best.safetensors: test accuracy "
    f"{100 * evaluate(fresh, loss_fn, (X_test, splits.y_test))['accuracy']:.2f}%"
)
