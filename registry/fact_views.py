"""Pages that record dated facts: a household's status change, a member's aid-category change,
yearly enrollment and exit. Township users reach only their township's records (404
otherwise, through the selectors); supervisors are refused (write_required)."""

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.generic import FormView

from registry.pages import RoleRequiredMixin

from . import fact_forms, fact_services, selectors
from .services import RegistryError


class _FactFormView(RoleRequiredMixin, FormView):
    write_required = True
    template_name = "registry/fact_form.html"
    heading = ""
    of_household = False

    def _find(self):
        finder = selectors.households_for if self.of_household else selectors.members_for
        self.object = get_object_or_404(finder(self.request.user), pk=self.kwargs["pk"])

    def get(self, request, *args, **kwargs):
        self._find()  # after the role checks of dispatch
        return super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        self._find()
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        try:
            self.record(dict(form.cleaned_data))
        except RegistryError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            return self.form_invalid(form)
        messages.success(self.request, "已登记。")
        return HttpResponseRedirect(self.get_success_url())

    def get_success_url(self):
        name = "registry:household_detail" if self.of_household else "registry:member_detail"
        return reverse(name, args=[self.object.pk])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(object=self.object, heading=self.heading, back_url=self.get_success_url())
        return context


class StatusChangeView(_FactFormView):
    form_class = fact_forms.StatusChangeForm
    heading = "登记脱贫状态变动"
    of_household = True

    def record(self, data):
        fact_services.household_status_change(user=self.request.user, household=self.object, **data)


class AidChangeView(_FactFormView):
    form_class = fact_forms.AidChangeForm
    heading = "登记救助类别变动"

    def record(self, data):
        fact_services.member_aid_category_change(user=self.request.user, member=self.object, **data)


class EnrollmentView(_FactFormView):
    form_class = fact_forms.EnrollmentForm
    heading = "登记年度参保及参保资助"

    def record(self, data):
        fact_services.enrollment_record(user=self.request.user, member=self.object, source="手工登记", **data)


class ExitView(_FactFormView):
    form_class = fact_forms.ExitForm
    heading = "登记减员"

    def record(self, data):
        fact_services.member_exit(user=self.request.user, member=self.object, **data)
